"""Lambda functions on the local moto server, bound to our handlers in-process.

moto's Lambda without Docker echoes its input; Step Functions executions (moto runs the ASL for
real) invoke Lambda through the server. This module points those invocations at our handlers,
with Lambda's error contract: a handler's exception becomes `FunctionError: Unhandled` with the
payload `{"errorType": <class name>, "errorMessage": ...}`, so an ASL `Catch`/`Retry` matches the
typed error by name. It is the one place the local stack reaches into moto."""

from __future__ import annotations

import io
import json
import threading
import zipfile
from collections.abc import Callable, Mapping
from typing import Any

Handler = Callable[[dict[str, Any], Any], Any]

_handlers: dict[str, Handler] = {}
_lock = threading.Lock()
_installed = False
ROLE_NAME = "local-workflows"


def bind(handlers: Mapping[str, Handler]) -> None:
    """Route invocations of the named functions to these handlers (and keep the others)."""
    global _installed
    with _lock:
        _handlers.update(handlers)
        if not _installed:
            from moto.awslambda_simple.models import LambdaSimpleBackend

            original = LambdaSimpleBackend.invoke

            def invoke(
                self: Any, function_name: str, qualifier: Any, body: Any, headers: Any, response_headers: Any
            ) -> Any:
                name = function_name.split(":")[-1] if function_name.startswith("arn:") else function_name
                handler = _handlers.get(name)
                if handler is None:
                    return original(self, function_name, qualifier, body, headers, response_headers)
                return _call(handler, name, body, response_headers)

            LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign]
            _installed = True


def _call(handler: Handler, name: str, body: Any, response_headers: dict[str, str]) -> bytes:
    from local.gateway import LocalLambdaContext

    event = json.loads(body) if body else {}
    try:
        result = handler(event, LocalLambdaContext(name))
    except Exception as exc:
        response_headers["x-amz-function-error"] = "Unhandled"
        return json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}).encode()
    return json.dumps(result).encode()


def configure_moto(moto_url: str) -> None:
    """Lambda without Docker, and Step Functions that execute their ASL."""
    import urllib3

    config = {"lambda": {"use_docker": False}, "stepfunctions": {"execute_state_machine": True}}
    urllib3.request("POST", f"{moto_url}/moto-api/config", json=config, timeout=10)


def create_function(lambda_client: Any, name: str, iam_client: Any) -> str:
    """A placeholder function for `name` (its code never runs: invocations reach our handler)."""
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    try:
        role_arn = iam_client.get_role(RoleName=ROLE_NAME)["Role"]["Arn"]
    except iam_client.exceptions.NoSuchEntityException:
        role_arn = iam_client.create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def lambda_handler(event, context):\n    return event\n")
    response = lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role_arn,
        Handler="handler.lambda_handler",
        Code={"ZipFile": buffer.getvalue()},
    )
    return str(response["FunctionArn"])
