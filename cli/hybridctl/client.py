"""The HTTP layer: one httpx client, the admin token, and API errors mapped onto exit codes."""

from __future__ import annotations

import json
from typing import Any

import httpx

# Exit codes (documented in `hybridctl --help`).
OK, CHECK_FAILED, USAGE, AUTH, NOT_FOUND, CONFLICT, SERVER, NOT_AVAILABLE = 0, 1, 2, 3, 4, 5, 6, 7

DEFAULT_ENDPOINT = "http://127.0.0.1:8080"


class CliError(Exception):
    """Ends the command with `exit_code` after printing `message` (never the token)."""

    def __init__(self, exit_code: int, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.exit_code, self.message, self.status, self.code = exit_code, message, status, code

    def as_dict(self) -> dict[str, Any]:
        return {
            "error": {"message": self.message, "status": self.status, "code": self.code},
            "exitCode": self.exit_code,
        }


def not_available(what: str, issue: int) -> CliError:
    """A verb or flag the runbooks use that a later issue gives its effect: parsed, never applied."""
    return CliError(NOT_AVAILABLE, f"not available yet: {what}, see issue {issue}; nothing was changed")


class RouteUnavailable(CliError):
    """404 for a route this deployment does not have (yet)."""


def _error_of(response: httpx.Response) -> tuple[str, str | None]:
    """The message and code of an error body: `{"error": {"type","message","code"}}`, or API Gateway's
    `{"message": ...}` (the authorizer's 401/403), or the raw text."""
    try:
        body = response.json()
    except ValueError:
        return (response.text.strip()[:300] or response.reason_phrase), None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return str(error.get("message") or error.get("type") or response.reason_phrase), error.get("code")
        if "message" in body:
            return str(body["message"]), None
    return response.reason_phrase, None


class Api:
    """The admin API and the health endpoints of one deployment."""

    def __init__(self, endpoint: str, token: str | None, *, timeout: float = 15.0) -> None:
        self.endpoint = endpoint.rstrip("/")
        self._token = token or None
        self._http = httpx.Client(base_url=self.endpoint, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def _redact(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text

    def request(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        auth: bool = True,
        accept: tuple[int, ...] = (200,),
    ) -> httpx.Response:
        headers = {"Accept": "application/json"}
        if auth and self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        try:
            response = self._http.request(method, path, json=body, params=params, headers=headers)
        except httpx.TimeoutException as exc:
            raise CliError(
                SERVER, f"{method} {path}: no answer from {self.endpoint} in time ({type(exc).__name__})"
            ) from exc
        except httpx.HTTPError as exc:
            raise CliError(SERVER, self._redact(f"cannot reach {self.endpoint}: {exc}")) from exc
        if response.status_code in accept:
            return response
        raise self._error(method, path, response, auth)

    def _error(self, method: str, path: str, response: httpx.Response, auth: bool) -> CliError:
        status = response.status_code
        message, code = _error_of(response)
        message = self._redact(message)
        where = f"{method} {path}"
        if status == 401:
            hint = "" if self._token else " (no admin token: pass --token or set HYBRID_ADMIN_TOKEN / ADMIN_TOKEN)"
            return CliError(AUTH, f"{where}: not authenticated (401): {message}{hint}", status=status, code=code)
        if status == 403:
            return CliError(AUTH, f"{where}: refused (403): {message}", status=status, code=code)
        if status in (404, 405):
            if status == 405 or message.startswith(("no admin route", "no route for")):
                return RouteUnavailable(
                    NOT_FOUND,
                    f"{where}: this route is not available on {self.endpoint} ({status}); it may not be deployed yet",
                    status=status,
                    code=code,
                )
            return CliError(NOT_FOUND, f"{where}: not found (404): {message}", status=status, code=code)
        if status == 409:
            return CliError(
                CONFLICT,
                f"{where}: conflict (409): {message}. Someone changed it first: read the current version "
                "and retry with --version N (or without --version to change whatever is current)",
                status=status,
                code=code,
            )
        if status in (400, 413, 422):
            return CliError(
                USAGE, f"{where}: the API refused the request ({status}): {message}", status=status, code=code
            )
        return CliError(SERVER, f"{where}: server error ({status}): {message}", status=status, code=code)

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        try:
            return response.json()
        except ValueError as exc:
            raise CliError(SERVER, f"{method} {path}: the answer is not JSON: {response.text[:200]!r}") from exc

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.json("GET", path, **kwargs)

    def post(self, path: str, body: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        return self.json("POST", path, body=body or {}, **kwargs)

    def put(self, path: str, body: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        return self.json("PUT", path, body=body or {}, **kwargs)

    def optional(self, path: str, **kwargs: Any) -> Any | None:
        """GET a route that may not be deployed yet: None on its 404."""
        try:
            return self.get(path, **kwargs)
        except RouteUnavailable:
            return None


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=False, default=str)
