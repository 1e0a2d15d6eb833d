"""Lambda authorizer (TOKEN) for `/admin`: bearer tokens from Secrets Manager, compared in constant
time, each with a role (`operator` or `read-only`) passed on to the admin function.

API Gateway answers 401 when the token is missing or malformed (the "Unauthorized" error) and 403
when it is well-formed but unknown (a Deny policy)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from functions.adapters.secrets import CachedSecret
from functions.app.admin.access import OPERATOR, READ_ONLY
from functions.domain.names import (
    AUTH_ALLOWED,
    AUTH_FORBIDDEN,
    AUTH_UNAUTHORIZED,
    AUTHORIZATION_DIMENSION,
    AUTHORIZATION_METRIC,
)
from functions.domain.thresholds import ADMIN_TOKENS_CACHE_SECONDS
from functions.shared.observability import emit_count, log_function_context, logger

CACHE_SECONDS = float(ADMIN_TOKENS_CACHE_SECONDS)  # with API Gateway's result cache, revocation <= 60 s
ROLES = (OPERATOR, READ_ONLY)


class AuthorizerSettings(BaseModel):
    """The tokens' secret in the stack; locally, the tokens themselves from the environment."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")
    tokens_secret_arn: str | None = Field(default=None, alias="ADMIN_TOKENS_SECRET_ARN")
    admin_token: SecretStr | None = Field(default=None, alias="ADMIN_TOKEN")
    readonly_token: SecretStr | None = Field(default=None, alias="ADMIN_READONLY_TOKEN")


@lru_cache(maxsize=1)
def get_settings() -> AuthorizerSettings:
    return AuthorizerSettings.model_validate(dict(os.environ))


@dataclass(frozen=True, slots=True)
class Credential:
    name: str
    role: str
    digest: bytes


class UnauthorizedError(Exception):
    """API Gateway maps exactly this message, 'Unauthorized', to a 401."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def parse_credentials(document: str) -> tuple[Credential, ...]:
    """`{"tokens": [{"name": ..., "role": "operator"|"read-only", "token": ...}]}`."""
    entries = json.loads(document).get("tokens", [])
    return tuple(
        Credential(str(e["name"]), e["role"], _digest(str(e["token"])))
        for e in entries
        if e.get("role") in ROLES and e.get("token")
    )


@lru_cache(maxsize=1)
def _tokens_secret(secret_arn: str) -> CachedSecret:
    return CachedSecret(secret_arn, "the admin tokens", ttl_s=CACHE_SECONDS, whole=True)


def credentials() -> tuple[Credential, ...]:
    settings = get_settings()
    if settings.tokens_secret_arn:
        return parse_credentials(_tokens_secret(settings.tokens_secret_arn)())
    local = (("admin", OPERATOR, settings.admin_token), ("viewer", READ_ONLY, settings.readonly_token))
    return tuple(
        Credential(name, role, _digest(token.get_secret_value()))
        for name, role, token in local
        if token is not None and token.get_secret_value()
    )


def authorize(authorization: str | None) -> Credential | None:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthorizedError()
    digest, match = _digest(token.strip()), None
    for credential in credentials():  # every one compared, in constant time
        if hmac.compare_digest(digest, credential.digest):
            match = credential
    return match


@log_function_context
def lambda_handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    try:
        credential = authorize(event.get("authorizationToken"))
    except UnauthorizedError:
        _count(AUTH_UNAUTHORIZED)
        raise
    arn = str(event.get("methodArn", "*"))
    resource = "/".join(arn.split("/")[:2]) + "/*" if "/" in arn else arn  # every method of this stage
    if credential is None:
        logger.warning("admin-token-refused")
        _count(AUTH_FORBIDDEN)
        return _policy("anonymous", "Deny", resource, {})
    _count(AUTH_ALLOWED)
    return _policy(credential.name, "Allow", resource, {"role": credential.role, "principal": credential.name})


def _count(outcome: str) -> None:
    """One AdminAuthorization count by outcome (security dashboard): a printed EMF line, no AWS call, no token.
    API Gateway caches a verdict per token (AUTHORIZER_CACHE_TTL), so these count verdicts, not calls."""
    emit_count(AUTHORIZATION_METRIC, AUTHORIZATION_DIMENSION, outcome)


def _policy(principal: str, effect: str, resource: str, context: dict[str, str]) -> dict[str, Any]:
    return {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
        },
        "context": context,
    }


def reset_cache() -> None:
    """Settings and tokens read again on the next call (after the environment changed)."""
    get_settings.cache_clear()
    _tokens_secret.cache_clear()
