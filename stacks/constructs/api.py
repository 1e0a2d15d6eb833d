"""The REST API: every path and method goes to the router Lambda (proxy integration).

`POST /v1/chat/completions` (every route of `STREAMED_ROUTES`) streams: its integration has
`ResponseTransferMode.STREAM`, so API Gateway invokes the function with InvokeWithResponseStream
(the `response-streaming-invocations` URI) and passes each chunk on as it comes, buffered answers
of that route included; its timeout is the router's, beyond the 29 s of a buffered integration.
Every other route stays buffered.

The documented routes are declared explicitly; an ANY method on every resource and a root
`{proxy+}` send unknown methods and paths to the router too, so clients always get its JSON
404/405 instead of API Gateway's "Missing Authentication Token". Authentication (hashed client
keys) and body validation happen in the router. `/admin` is added by `AdminApi`, behind its own
Lambda authorizer; no route here uses an authorizer.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from functions.domain.names import STREAMED_ROUTES
from stacks.config import StackConfig
from stacks.constructs.router import ROUTER_TIMEOUT

ROUTES: tuple[tuple[str, str], ...] = (
    ("POST", "v1/chat/completions"),
    ("GET", "health"),
    ("GET", "health/detailed"),
    ("GET", "health/component/{name}"),
    ("GET", "openapi.json"),  # the router serves the OpenAPI document
)

# 29 s is the REST API's buffered integration maximum without a Service Quotas increase: the health
# routes answer well within it. A streaming integration may run up to 15 minutes; the chat route's waits
# as long as the router may run (its timeout, STREAM_MAX_SECONDS), so every operation budget fits.
INTEGRATION_TIMEOUT = Duration.seconds(29)
STREAM_INTEGRATION_TIMEOUT = ROUTER_TIMEOUT


class RouterApi(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: lambda_.IFunction,
        config: StackConfig,
    ) -> None:
        super().__init__(scope, construct_id)
        removal_policy = config.cdk_removal_policy
        # Read by the security dashboard's denied-admin-calls query (stacks/constructs/dashboards.py).
        self.access_logs = access_logs = logs.LogGroup(
            self, "AccessLogs", retention=config.log_retention, removal_policy=removal_policy
        )
        self.rest_api = apigw.RestApi(
            self,
            "Api",
            description="Hybrid Routing: OpenAI-compatible data plane and health API",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=removal_policy,
            deploy_options=apigw.StageOptions(
                stage_name=config.api_stage_name,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=False,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=False,
                ),
                tracing_enabled=True,
                metrics_enabled=True,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,  # request bodies carry prompts: keep them out of logs
                throttling_rate_limit=config.api_throttling_rate_limit,
                throttling_burst_limit=config.api_throttling_burst_limit,
            ),
        )
        integration = apigw.LambdaIntegration(handler, proxy=True, allow_test_invoke=False, timeout=INTEGRATION_TIMEOUT)
        streaming = apigw.LambdaIntegration(
            handler,
            proxy=True,
            allow_test_invoke=False,
            timeout=STREAM_INTEGRATION_TIMEOUT,
            response_transfer_mode=apigw.ResponseTransferMode.STREAM,
        )
        for method, path in ROUTES:
            chosen = streaming if (method, f"/{path}") in STREAMED_ROUTES else integration
            self.rest_api.root.resource_for_path(path).add_method(method, chosen)
        self._add_catch_all(integration)

    def _add_catch_all(self, integration: apigw.Integration) -> None:
        root = self.rest_api.root
        resources = {"": root}
        for _, path in ROUTES:
            parts = path.split("/")
            for depth in range(1, len(parts) + 1):
                prefix = "/".join(parts[:depth])
                resources.setdefault(prefix, root.resource_for_path(prefix))
        for resource in resources.values():
            resource.add_method("ANY", integration)
        root.add_proxy(default_integration=integration, any_method=True)
