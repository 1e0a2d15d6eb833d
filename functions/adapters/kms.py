"""The audit trail's key: a KMS HMAC key (HMAC_256, GENERATE_VERIFY_MAC). The key material never leaves
KMS; the appenders' roles may GenerateMac, the verifier's VerifyMac, nobody else either."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from functions.adapters.aws import REQUEST_PATH_CONFIG
from functions.adapters.aws import client as aws_client
from functions.domain.errors import DependencyUnavailable
from functions.domain.names import AUDIT_MAC_ALGORITHM
from functions.domain.thresholds import AUDIT_VERIFY_CONCURRENCY

INVALID_MAC = "KMSInvalidMacException"


class KmsMacKey:
    """The domain's MacKey port over KMS: MACs as base64 text."""

    def __init__(self, key_id: str) -> None:
        self.key_id = key_id

    def _kms(self) -> Any:
        return aws_client("kms", config=REQUEST_PATH_CONFIG)

    def mac(self, message: bytes) -> str:
        try:
            response = self._kms().generate_mac(KeyId=self.key_id, Message=message, MacAlgorithm=AUDIT_MAC_ALGORITHM)
        except (ClientError, BotoCoreError) as exc:
            raise DependencyUnavailable("the audit trail's key cannot be used right now; nothing changed") from exc
        return base64.b64encode(response["Mac"]).decode("ascii")

    def verify_all(self, pairs: Sequence[tuple[bytes, str]]) -> list[bool]:
        """Each (message, MAC) checked by KMS, AUDIT_VERIFY_CONCURRENCY at a time: a long trail within the admin
        API's timeout (one VerifyMac per record)."""
        if len(pairs) <= 1:
            return [self.verify(message, mac) for message, mac in pairs]
        with ThreadPoolExecutor(max_workers=min(AUDIT_VERIFY_CONCURRENCY, len(pairs))) as pool:
            return list(pool.map(lambda pair: self.verify(*pair), pairs))

    def verify(self, message: bytes, mac: str) -> bool:
        try:
            raw = base64.b64decode(mac, validate=True)
        except ValueError:
            return False
        try:
            response = self._kms().verify_mac(
                KeyId=self.key_id, Message=message, MacAlgorithm=AUDIT_MAC_ALGORITHM, Mac=raw
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == INVALID_MAC:
                return False
            raise DependencyUnavailable("the audit trail's key cannot be used right now") from exc
        except BotoCoreError as exc:
            raise DependencyUnavailable("the audit trail's key cannot be used right now") from exc
        return bool(response.get("MacValid"))
