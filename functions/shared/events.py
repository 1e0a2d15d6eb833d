"""API Gateway proxy events as our JSON APIs read them."""

from __future__ import annotations

from typing import Any

JSON = "application/json"


def as_json_api(event: dict[str, Any]) -> dict[str, Any]:
    """Every request body is JSON, whatever Content-Type the client sent: `curl -d '{...}'` (as the
    runbooks write it) sends application/x-www-form-urlencoded, which the resolver would otherwise
    parse as a form."""
    if not event.get("body"):
        return event
    for headers in (event.get("headers"), event.get("multiValueHeaders")):
        if headers:
            for name in [k for k in headers if k.lower() == "content-type"]:
                del headers[name]
    if event.get("headers") is None:
        event["headers"] = {}
    event["headers"]["content-type"] = JSON
    if event.get("multiValueHeaders") is not None:
        event["multiValueHeaders"]["content-type"] = [JSON]
    return event
