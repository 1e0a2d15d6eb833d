"""What a function needs to call the configured providers: one set of environment variables, the
API-key secrets and the grants. The router and the health checker both take it from here, so their
provider settings never drift apart."""

from __future__ import annotations

from aws_cdk import Aws, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from functions.domain.names import GOOGLE, META
from stacks.config import StackConfig

_API_KEY_HELP = (
    "{provider} API key for Hybrid Routing. The stack creates this secret with a random placeholder: "
    "set the real key with `aws secretsmanager put-secret-value --secret-id <this ARN> --secret-string <key>` "
    "(the plain key, no JSON). Or give an existing secret's ARN as `{setting}` in cdk.json."
)


class ProviderAccess(Construct):
    """Provider environment, API-key secrets (created unless an existing ARN is configured) and grants."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: StackConfig, removal_policy: RemovalPolicy
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self.secrets: dict[str, secretsmanager.ISecret] = {}
        if GOOGLE in config.direct:
            self.secrets["GOOGLE_API_KEY_SECRET_ARN"] = self._secret(
                "GoogleApiKey", "Google Gemini", "google_api_key_secret_arn", config.google_api_key_secret_arn,
                removal_policy,
            )  # fmt: skip
        if META in config.direct and config.meta_mode == "llama_api":
            self.secrets["META_API_KEY_SECRET_ARN"] = self._secret(
                "MetaApiKey", "Meta Llama API", "meta_api_key_secret_arn", config.meta_api_key_secret_arn,
                removal_policy,
            )  # fmt: skip
        self.environment = self._environment()

    def grant(self, function: lambda_.IFunction) -> None:
        """Invoke the configured Bedrock models only, and read the API-key secrets."""
        # Converse is authorized by bedrock:InvokeModel; there is no bedrock:Converse IAM action.
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["bedrock:InvokeModel"],
                resources=[
                    f"arn:{Aws.PARTITION}:bedrock:{self._config.bedrock_region}::foundation-model/{model_id}"
                    for model_id in self._config.invoked_bedrock_model_ids
                ],
            )
        )
        for secret in self.secrets.values():
            secret.grant_read(function)

    def _environment(self) -> dict[str, str]:
        config = self._config
        environment = {
            "DIRECT_PROVIDERS": config.direct_providers,
            "BEDROCK_REGION": config.bedrock_region,
            "BEDROCK_MODEL_ID": config.bedrock_model_ids[0],
            "MCP_TOOL_NAME": config.mcp_tool_name,
        }
        if config.mcp_server_url:
            environment["MCP_SERVER_URL"] = config.mcp_server_url
        if GOOGLE in config.direct:
            environment["GOOGLE_MODEL"] = config.google_model
        if META in config.direct:
            environment["META_MODE"] = config.meta_mode
            environment |= (
                {"META_BEDROCK_MODEL_ID": config.meta_bedrock_model_id}
                if config.meta_mode == "bedrock"
                else {"META_MODEL": config.meta_model}
            )
        environment |= {name: secret.secret_arn for name, secret in self.secrets.items()}
        return environment

    def _secret(
        self, construct_id: str, provider: str, setting: str, existing_arn: str | None, removal_policy: RemovalPolicy
    ) -> secretsmanager.ISecret:
        if existing_arn:
            return secretsmanager.Secret.from_secret_complete_arn(self, construct_id, existing_arn)
        return secretsmanager.Secret(
            self,
            construct_id,
            description=_API_KEY_HELP.format(provider=provider, setting=setting),
            removal_policy=removal_policy,
        )
