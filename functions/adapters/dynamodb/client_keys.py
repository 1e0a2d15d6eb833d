"""Client API keys, stored as SHA-256 digests (never in plain text), looked up with a bounded
in-memory cache so steady-state requests make no DynamoDB read."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from functions.adapters.dynamodb.client import dynamodb_client, from_item, to_item
from functions.adapters.dynamodb.schema import CLIENT_KEYS
from functions.domain.errors import DependencyUnavailable, InvalidRequest, Unauthorized
from functions.domain.quotas import DEFAULT_LIMITS, REQUESTS_LIMIT, TOKENS_LIMIT, QuotaLimits
from functions.domain.thresholds import CLIENT_KEY_CACHE_SECONDS

NEGATIVE_CACHE_SECONDS = 5.0
CACHE_SIZE = 10_000
KEY_PREFIX = "hr-"


def hash_key(api_key: str) -> str:
    # Keys are 256-bit random tokens, so a fast unsalted digest is safe to store and index.
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class ClientIdentity:
    client_id: str
    key_id: str = ""  # the key's digest: what its quota counters are named by
    limits: QuotaLimits = DEFAULT_LIMITS


class ClientKeyStore:
    def __init__(
        self, table: str, clock: Callable[[], float] = time.monotonic, default_limits: QuotaLimits = DEFAULT_LIMITS
    ) -> None:
        self._table, self._clock, self._defaults = table, clock, default_limits
        self._cache: OrderedDict[str, tuple[float, ClientIdentity | None]] = OrderedDict()
        self._lock = threading.Lock()

    def authenticate(self, authorization: str | None) -> ClientIdentity:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("missing client key: send 'Authorization: Bearer <client key>'")
        identity = self._lookup(hash_key(token.strip()))
        if identity is None:
            raise Unauthorized("unknown client key")
        return identity

    def _lookup(self, digest: str) -> ClientIdentity | None:
        now = self._clock()
        with self._lock:
            cached = self._cache.get(digest)
            if cached is not None and cached[0] > now:
                self._cache.move_to_end(digest)
                return cached[1]
        identity = self._read(digest)
        ttl = CLIENT_KEY_CACHE_SECONDS if identity else NEGATIVE_CACHE_SECONDS
        with self._lock:
            self._cache[digest] = (now + ttl, identity)
            self._cache.move_to_end(digest)
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return identity

    def _read(self, digest: str) -> ClientIdentity | None:
        try:
            response = dynamodb_client().get_item(
                TableName=self._table, Key={CLIENT_KEYS.partition_key: {"S": digest}}, ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as exc:
            raise DependencyUnavailable("client keys cannot be checked right now; try again") from exc
        item = from_item(response.get("Item") or {})
        if not item or item.get("enabled") is False:
            return None
        return ClientIdentity(str(item.get("client_id", "unknown")), digest, self._defaults.for_item(item))

    def create(
        self,
        client_id: str,
        api_key: str | None = None,
        *,
        requests_per_minute: int | None = None,
        tokens_per_minute: int | None = None,
    ) -> str:
        """Store a new key for `client_id` and return it; the plain key is never stored. Limits not given are
        the defaults (functions/domain/thresholds.py), read when the key is checked."""
        key = api_key or new_key()
        document: dict[str, object] = {
            CLIENT_KEYS.partition_key: hash_key(key),
            "client_id": client_id,
            "enabled": True,
            "created_at": int(time.time()),
        }
        document |= _limits(requests_per_minute, tokens_per_minute)
        dynamodb_client().put_item(
            TableName=self._table,
            Item=to_item(document),
            ConditionExpression=f"attribute_not_exists({CLIENT_KEYS.partition_key})",
        )
        return key

    def set_limits(
        self, digest: str, *, requests_per_minute: int | None = None, tokens_per_minute: int | None = None
    ) -> None:
        """Give the existing key of `digest` its own limits (routers see them within CLIENT_KEY_CACHE_SECONDS).
        No key of that digest: a ClientError, ConditionalCheckFailedException."""
        limits = _limits(requests_per_minute, tokens_per_minute)
        if not limits:
            raise InvalidRequest("name at least one limit: requests per minute or tokens per minute")
        names = {f"#l{i}": name for i, name in enumerate(limits)}
        values = {f":l{i}": {"N": str(value)} for i, value in enumerate(limits.values())}
        dynamodb_client().update_item(
            TableName=self._table,
            Key={CLIENT_KEYS.partition_key: {"S": digest}},
            UpdateExpression="SET " + ", ".join(f"#l{i} = :l{i}" for i in range(len(limits))),
            ConditionExpression=f"attribute_exists({CLIENT_KEYS.partition_key})",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )


def _limits(requests_per_minute: int | None, tokens_per_minute: int | None) -> dict[str, int]:
    """The key item's limit attributes for the limits given; each must be a positive whole number."""
    given = {REQUESTS_LIMIT: requests_per_minute, TOKENS_LIMIT: tokens_per_minute}
    limits = {name: value for name, value in given.items() if value is not None}
    for name, value in limits.items():
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise InvalidRequest(f"{name} must be a positive whole number")
    return limits
