"""API keys of the providers outside AWS: from Secrets Manager in the stack, from the environment locally.

A getter is made when the providers are built and asked on every call, so a missing key makes that
one provider unavailable instead of failing the function's start. Values are never logged and never
put into an error message.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from functions.adapters.aws import client as aws_client
from functions.domain.errors import ProviderUnavailable

if TYPE_CHECKING:
    from botocore.client import BaseClient
    from pydantic import SecretStr

CACHE_TTL_S = 300.0
_JSON_KEY = "api_key"
# The secret is fetched on the request path: fail fast rather than wait out botocore's defaults.
_CLIENT_CONFIG = Config(connect_timeout=2, read_timeout=3, retries={"total_max_attempts": 2, "mode": "standard"})


def secret_getter(secret_arn: str | None, fallback: SecretStr | None, name: str) -> Callable[[], str]:
    """A getter of the secret `name`: from Secrets Manager when `secret_arn` is set, else `fallback`.

    The getter raises `ProviderUnavailable` when there is neither, or when Secrets Manager fails.
    """
    if secret_arn:
        return CachedSecret(secret_arn, name)
    if fallback is not None and fallback.get_secret_value():
        return fallback.get_secret_value
    return _missing(name)


def _missing(name: str) -> Callable[[], str]:
    def getter() -> str:
        raise ProviderUnavailable(f"{name} is not configured: neither a secret ARN nor an environment value")

    return getter


def secrets_manager_client(region: str | None) -> BaseClient:
    return aws_client("secretsmanager", region, None, _CLIENT_CONFIG)


class CachedSecret:
    """A Secrets Manager secret held in memory for `ttl_s`; one fetch at a time across threads. Its value is
    the key in the secret string (`{"api_key": ...}` or the string itself), or with `whole=True` the string."""

    def __init__(
        self,
        secret_arn: str,
        name: str,
        *,
        ttl_s: float = CACHE_TTL_S,
        clock: Callable[[], float] = time.monotonic,
        whole: bool = False,
    ) -> None:
        self.secret_arn = secret_arn
        self.name = name
        self._whole = whole
        self._ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._value: str | None = None
        self._expires_at = 0.0

    def __repr__(self) -> str:
        return f"CachedSecret({self.name!r})"

    def __call__(self) -> str:
        with self._lock:
            now = self._clock()
            if self._value is None or now >= self._expires_at:
                self._value = self._fetch()
                self._expires_at = now + self._ttl_s
            return self._value

    def _fetch(self) -> str:
        try:
            response = secrets_manager_client(_region(self.secret_arn)).get_secret_value(SecretId=self.secret_arn)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            raise ProviderUnavailable(f"Secrets Manager refused {self.name} ({code})") from exc
        except BotoCoreError as exc:
            raise ProviderUnavailable(f"Secrets Manager unreachable for {self.name} ({type(exc).__name__})") from exc
        secret = response.get("SecretString")
        if self._whole and isinstance(secret, str) and secret.strip():
            return secret
        return _key_in(secret, self.name)


def _key_in(secret: Any, name: str) -> str:
    """The key in a secret string: `{"api_key": "..."}` or the string itself."""
    if not isinstance(secret, str) or not secret.strip():
        raise ProviderUnavailable(f"the secret for {name} has no string value")
    try:
        parsed = json.loads(secret)
    except ValueError:
        parsed = None  # a plain string; the decode error is dropped as it quotes the secret
    if not isinstance(parsed, dict):
        return secret.strip()
    key = parsed.get(_JSON_KEY)
    if not isinstance(key, str) or not key:
        raise ProviderUnavailable(f"the JSON secret for {name} has no {_JSON_KEY!r} string")
    return key


def _region(secret_arn: str) -> str | None:
    """The region in a secret's ARN (a secret may live in another region); None for a bare name."""
    parts = secret_arn.split(":")
    return (parts[3] or None) if len(parts) > 6 and parts[0] == "arn" else None
