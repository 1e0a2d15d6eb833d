"""An encoder of the AWS event stream (`application/vnd.amazon.eventstream`), the binary framing of
Bedrock's `ConverseStream`. botocore has only its decoder (`botocore.eventstream`), so the simulator
writes the frames itself: a prelude (total length, headers length, the prelude's CRC32), the headers
(name, type 7 = string, value), the payload, then the CRC32 of everything before it.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Mapping
from typing import Any

_STRING = 7
_PRELUDE = struct.Struct(">II")
_CRC = struct.Struct(">I")


def _headers(headers: Mapping[str, str]) -> bytes:
    encoded = bytearray()
    for name, value in headers.items():
        key, text = name.encode("utf-8"), value.encode("utf-8")
        encoded += struct.pack(">B", len(key)) + key + struct.pack(">BH", _STRING, len(text)) + text
    return bytes(encoded)


def frame(headers: Mapping[str, str], payload: bytes, *, corrupt_crc: bool = False) -> bytes:
    """One event stream message; `corrupt_crc` spoils its message CRC, as a damaged frame has it."""
    encoded_headers = _headers(headers)
    total = _PRELUDE.size + _CRC.size + len(encoded_headers) + len(payload) + _CRC.size
    prelude = _PRELUDE.pack(total, len(encoded_headers))
    prelude += _CRC.pack(zlib.crc32(prelude))
    message = prelude + encoded_headers + payload
    crc = zlib.crc32(message) ^ (0xFFFFFFFF if corrupt_crc else 0)
    return message + _CRC.pack(crc)


def event_frame(event_type: str, body: Mapping[str, Any] | bytes) -> bytes:
    """An `event` message of `event_type` (messageStart, contentBlockDelta, ...) with a JSON payload."""
    payload = body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    return frame(headers, payload)


def exception_frame(exception_type: str, message: str) -> bytes:
    """An `exception` message (throttlingException, modelStreamErrorException, ...), as a stream that
    answered 200 reports a failure."""
    headers = {":exception-type": exception_type, ":content-type": "application/json", ":message-type": "exception"}
    return frame(headers, json.dumps({"message": message}).encode())
