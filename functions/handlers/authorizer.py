"""Lambda authorizer (TOKEN) for `/admin`: bearer tokens from Secrets Manager, compared in constant
time, each with a role (`operator` or `read-only`) passed on to the admin function.

API Gateway answers 401 when the token is missing or malformed (the "Unauthorized" error) and 403
when it is well-formed but unknown (a Deny policy)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from functions.adapters.aws import client
from functions.shared.observability import (
    AUTH_ALLOWED,
    AUTH_FORBIDDEN,
    AUTH_UNAUTHORIZED,
    AUTHORIZATION_DIMENSION,
    AUTHORIZATION_METRIC,
    emit_count,
    logger,
)

CACHE_SECONDS = 300.0
ROLES = ("operator", "read-only")


@dataclass(frozen=True, slots=True)
class Credential:
    name: str
    role: str
    digest: bytes


class UnauthorizedError(Exception):
    """API Gateway maps exactly this message, 'Unauthorized', to a 401."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


_lock = threading.Lock()
_cache: tuple[float, tuple[Credential, ...]] | None = None


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


def credentials() -> tuple[Credential, ...]:
    global _cache
    with _lock:
        if _cache is not None and time.monotonic() - _cache[0] < CACHE_SECONDS:
            return _cache[1]
        arn = os.environ.get("ADMIN_TOKENS_SECRET_ARN")
        if arn:
            secret = client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
            found = parse_credentials(secret)
        else:  # the local stack: tokens from the environment
            found = tuple(
                Credential(name, role, _digest(os.environ[var]))
                for name, role, var in (
                    ("admin", "operator", "ADMIN_TOKEN"),
                    ("viewer", "read-only", "ADMIN_READONLY_TOKEN"),
                )
                if os.environ.get(var)
            )
        _cache = (time.monotonic(), found)
        return found


def authorize(authorization: str | None) -> Credential | None:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthorizedError()
    digest, match = _digest(token.strip()), None
    for credential in credentials():  # every one compared, in constant time
        if hmac.compare_digest(digest, credential.digest):
            match = credential
    return match


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
    global _cache
    with _lock:
        _cache = None
