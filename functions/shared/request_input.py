"""What every route refuses before any parsing of its own: a body over the function's limit (413), and
input no parser of ours may see (400): text that is not UTF-8, JSON nested deeper than MAX_JSON_DEPTH, a
number literal longer than MAX_JSON_NUMBER_CHARS or outside a float's range, NaN or Infinity (not JSON),
and lone surrogates (`\\udfff`), which no UTF-8 encoder takes, in the body, the path, a query string or a
header. Each refusal names the field and quotes at most a short prefix of what was sent."""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Iterator, Mapping
from typing import Any

from functions.domain.errors import InvalidRequest, PayloadTooLarge, quoted
from functions.domain.thresholds import MAX_JSON_DEPTH, MAX_JSON_NUMBER_CHARS, QUOTED_INPUT_CHARS

BODY = "body"


def check_request(event: Mapping[str, Any], max_body_bytes: int) -> str | None:
    """Raise PayloadTooLarge or InvalidRequest (its `param` names the field) for `event`, an API Gateway
    proxy event, whose body is too large or not UTF-8, or whose path, query strings or headers hold a lone
    surrogate; else answer its body's text, for `check_json_text` (None without a body)."""
    text = _body_text(event, max_body_bytes)
    for param, value in _request_strings(event):
        _refuse_surrogates(param, value)
    return text


def check_json_text(text: str | None) -> None:
    """Raise InvalidRequest when `text` is JSON that breaks a bound; text that is not JSON at all is left
    to the route, which answers it in its own words (or ignores a body it does not read)."""
    if text is None:
        return
    try:
        document = json.loads(text, parse_int=_integer, parse_float=_float, parse_constant=_constant)
    except RecursionError:
        raise _too_deep(BODY) from None
    except ValueError as exc:
        if isinstance(exc, InvalidRequest):
            raise
        return
    _check_tree(document)


class InvalidInput(InvalidRequest, ValueError):
    """An InvalidRequest that names its field; a ValueError too, so that it leaves json.loads as it is."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message, param=param)


def _body_text(event: Mapping[str, Any], max_body_bytes: int) -> str | None:
    body = event.get("body")
    if not body:
        return None
    if not isinstance(body, str):
        raise InvalidInput(BODY, "the request body must be text")
    size = len(body) * 3 // 4 if event.get("isBase64Encoded") else len(body.encode("utf-8", "surrogatepass"))
    if size > max_body_bytes:
        raise PayloadTooLarge(f"request body of {size} bytes exceeds the {max_body_bytes} byte limit")
    if not event.get("isBase64Encoded"):
        return body
    try:
        return base64.b64decode(body, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidInput(BODY, "the request body is not UTF-8 text") from None


def _request_strings(event: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    path = event.get("path")
    if isinstance(path, str):
        yield "path", path
    for field, kind in (
        ("headers", "header"),
        ("multiValueHeaders", "header"),
        ("queryStringParameters", "query"),
        ("multiValueQueryStringParameters", "query"),
        ("pathParameters", "path"),
    ):
        for name, values in (event.get(field) or {}).items():
            yield f"{kind} {quoted(name)}", str(name)
            for value in values if isinstance(values, list) else [values]:
                if isinstance(value, str):
                    yield f"{kind} {quoted(name)}", value


def _refuse_surrogates(param: str, text: str) -> None:
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(param, f"{param}: holds a lone surrogate (not Unicode text): {quoted(text)}") from None


def _check_tree(document: Any) -> None:
    """Every string of `document` (keys included) encodable, and no nesting deeper than MAX_JSON_DEPTH.
    Iterative, so that the walk itself cannot overflow the stack."""
    pending: list[tuple[Any, str, int]] = [(document, "", 1)]
    while pending:
        value, path, depth = pending.pop()
        if isinstance(value, str):
            _refuse_surrogates(path or BODY, value)
            continue
        if not isinstance(value, dict | list):
            continue
        if depth > MAX_JSON_DEPTH:
            raise _too_deep(path or BODY)
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(key, str):
                _refuse_surrogates(_field(path, quoted(key)), key)
                key = key[:QUOTED_INPUT_CHARS]
            pending.append((item, _field(path, str(key)), depth + 1))


def _field(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _too_deep(param: str) -> InvalidInput:
    return InvalidInput(param, f"the request body nests deeper than {MAX_JSON_DEPTH} levels")


def _integer(literal: str) -> int:
    if len(literal) > MAX_JSON_NUMBER_CHARS:
        raise _number_too_long(literal)
    return int(literal)


def _float(literal: str) -> float:
    if len(literal) > MAX_JSON_NUMBER_CHARS:
        raise _number_too_long(literal)
    value = float(literal)
    if not math.isfinite(value):
        raise InvalidInput(BODY, f"the number {quoted(literal)} is out of range")
    return value


def _constant(literal: str) -> float:
    raise InvalidInput(BODY, f"{literal} is not a JSON number")


def _number_too_long(literal: str) -> InvalidInput:
    return InvalidInput(
        BODY, f"a number in the request body has {len(literal)} characters, more than {MAX_JSON_NUMBER_CHARS}"
    )
