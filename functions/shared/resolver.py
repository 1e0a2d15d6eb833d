"""Powertools' REST resolver with the request it resolves kept per thread.

Powertools keeps the event being resolved on a class attribute that every resolver of the process shares
(`BaseRouter.current_event`), and the route context on the resolver. On AWS that is enough: a Lambda instance
serves one request at a time. The local gateway serves overlapping requests from threads of one process, where
that state let one request read another's headers and body (and answer with its operation type), or lose its
context when another request ended (a KeyError, answered 500). Here the event, the Lambda context and the route
context live in per-thread storage, through the same properties Powertools' own `Router` uses for them; and a
route's middleware stack, which Powertools builds on the route's first call, is built by one thread only (two
first calls at once nested one stack in the other, and the route answered 500 to every request from then on).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.api_gateway import ResponseBuilder, Route
from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent
from aws_lambda_powertools.utilities.typing import LambdaContext


class RequestScopedResolver(APIGatewayRestResolver):
    def __init__(self, **kwargs: Any) -> None:
        self._request = threading.local()  # before Powertools' __init__, which sets `context`
        self._building = threading.Lock()
        super().__init__(**kwargs)

    @property  # type: ignore[override]
    def current_event(self) -> BaseProxyEvent:
        event: BaseProxyEvent = self._request.event
        return event

    @current_event.setter
    def current_event(self, value: BaseProxyEvent) -> None:
        self._request.event = value

    @property
    def lambda_context(self) -> LambdaContext:
        context: LambdaContext = self._request.lambda_context
        return context

    @lambda_context.setter
    def lambda_context(self, value: LambdaContext) -> None:
        self._request.lambda_context = value

    @property
    def context(self) -> dict[str, Any]:
        context: dict[str, Any] = self._request.__dict__.setdefault("context", {})
        return context

    @context.setter
    def context(self, value: dict[str, Any]) -> None:
        self._request.context = value

    def resolve(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        self._request.lambda_context = context  # Powertools also stores it on the shared class attribute
        return super().resolve(event, context)

    def _call_route(self, route: Route, route_arguments: dict[str, str]) -> ResponseBuilder[Any]:
        if not route._middleware_stack_built:
            with self._building:
                if not route._middleware_stack_built:
                    route._build_middleware_stack(router_middlewares=self._router_middlewares, app=self)
        return super()._call_route(route, route_arguments)

    def _to_proxy_event(self, event: dict[str, Any]) -> BaseProxyEvent:
        proxy = super()._to_proxy_event(event)
        self._request.event = proxy  # resolve() stores it on BaseRouter too, where no route of ours reads it
        return proxy
