"""Build the configured provider adapters. Adapter modules are imported only when configured."""

from __future__ import annotations

from functions.adapters.providers.settings import ProviderSettings
from functions.domain.completion import Provider
from functions.domain.names import BEDROCK, GOOGLE, MCP, META


def build_providers(settings: ProviderSettings) -> dict[str, Provider]:
    providers: dict[str, Provider] = {}
    direct = settings.direct()
    if BEDROCK in direct:
        from functions.adapters.providers.bedrock import BedrockProvider

        providers[BEDROCK] = BedrockProvider(
            model_id=settings.bedrock_model_id,
            region=settings.bedrock_region,
            endpoint_url=settings.bedrock_endpoint_url,
        )
    if GOOGLE in direct:
        from functions.adapters.providers.google import GoogleProvider
        from functions.adapters.secrets import secret_getter

        providers[GOOGLE] = GoogleProvider(
            model=settings.google_model,
            api_key=secret_getter(settings.google_api_key_secret_arn, settings.google_api_key, "GOOGLE_API_KEY"),
            endpoint_url=settings.google_endpoint_url,
        )
    if META in direct:
        providers[META] = _meta(settings)
    if settings.mcp_server_url:
        from functions.adapters.providers.mcp import McpProvider

        providers[MCP] = McpProvider(server_url=settings.mcp_server_url, tool_name=settings.mcp_tool_name)
    return providers


def _meta(settings: ProviderSettings) -> Provider:
    if settings.meta_mode == "bedrock":
        from functions.adapters.providers.bedrock import BedrockProvider

        return BedrockProvider(
            model_id=settings.meta_bedrock_model_id,
            region=settings.bedrock_region,
            endpoint_url=settings.bedrock_endpoint_url,
            name=META,
        )
    from functions.adapters.providers.meta import LlamaApiProvider
    from functions.adapters.secrets import secret_getter

    return LlamaApiProvider(
        model=settings.meta_model,
        api_key=secret_getter(settings.meta_api_key_secret_arn, settings.meta_api_key, "META_API_KEY"),
        endpoint_url=settings.meta_endpoint_url,
    )
