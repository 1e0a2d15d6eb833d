"""The failure-modes scorecard: failoverbench's scenarios (local/failure_scenarios.py) against the local stack,
an infrastructure request each (bedrock primary, google its fallback). Two tables: the buffered scenarios, one row
each with the catalogue's verdict, the attempts the primary and the fallback saw, the gap between the first two
primary attempts, the wall time; then the streamed ones (`stream: true`), each with its verdict, the outcomes of
the primary's and the fallback's attempts, the characters the caller got of the complete answer's, how its
stream ended ([DONE], an error event, or neither) and the wall time.

When LiteLLM is importable (not a dependency: `pip install litellm==1.110.2`), the same scenarios also run
through LiteLLM's Router configured as failoverbench's methodology configures it (num_retries=2, timeout=30 s,
one fallback, context-window fallbacks on, defaults otherwise), its Bedrock deployment pointed at the Bedrock
simulator and its Gemini deployment at the Gemini simulator, so both are scored on the same faults in one run;
the streamed scenarios through `Router.completion(stream=True)` (an iteration that ends without an exception is
the success its caller sees). S14b changes the gateway's continuation setting and has no LiteLLM counterpart.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LITELLM_VERSION = "1.110.2"  # the release the README names for the comparison
LITELLM_NUM_RETRIES = 2
LITELLM_TIMEOUT_S = 30.0


def main() -> int:
    import logging

    os.environ["HEALTH_CHECK_INTERVAL_SECONDS"] = "3600"  # no health probe marks a faulted provider down meanwhile
    os.environ["ALARM_EVALUATION_INTERVAL_SECONDS"] = "0"  # no alarm-driven failover moves the weights meanwhile
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # LiteLLM reads its bundled prices, no download
    from starlette.testclient import TestClient

    from functions.adapters.providers.settings import get_provider_settings
    from functions.app.chat.wiring import get_dependencies
    from functions.domain.routing.breaker import BreakerPolicy
    from local.failure_scenarios import STREAM_SCENARIOS, GatewaySystem, Roles, Runner, format_rows
    from local.stack import start
    from tests.support import reset_routing_state

    logging.disable(logging.INFO)
    out, sys.stdout = sys.stdout, open(os.devnull, "w")  # the router's EMF lines (the metrics tap keeps them)
    os.environ.setdefault("CLIENT_REQUESTS_PER_MINUTE", "1000000000")  # the bench's one key sends thousands a minute
    stack = start(port=0, serve_gateway_in_thread=False)
    provider_settings = get_provider_settings()
    roles = Roles(fallback_model=provider_settings.google_model, primary_model=provider_settings.bedrock_model_id)
    policy = BreakerPolicy(cooldown_s=1.0)  # the flapping primary recovers in seconds; every other threshold as shipped
    try:
        with TestClient(stack.app, base_url="http://127.0.0.1") as client:  # the Host /local/* accepts
            client.headers["Authorization"] = f"Bearer {stack.client_key}"
            gateway = GatewaySystem(client, per_call_timeout=False, settings=get_dependencies().settings)
            runner = Runner(client, gateway, roles, prepare=lambda: reset_routing_state(stack, policy))
            print(
                "failure modes on the local stack (infrastructure requests: bedrock primary, google fallback;", file=out
            )
            print(f"breakers as shipped but a {policy.cooldown_s:g} s cooldown)", file=out)
            print(format_rows(runner.run_all()), file=out, flush=True)
            print(
                "\nstreaming (stream: true, stream_options.include_usage; continuation off as shipped but S14b)",
                file=out,
            )
            print(format_rows(runner.run_all(STREAM_SCENARIOS)), file=out, flush=True)
            litellm = _litellm_system(roles)
            if litellm is None:
                print(f"\nLiteLLM is not installed: `pip install litellm=={LITELLM_VERSION}` adds its Router", file=out)
                return 0
            print(
                f"\nLiteLLM {litellm.version} Router, failoverbench's baseline configuration (num_retries=2,", file=out
            )
            print("timeout=30 s, one fallback), on the same Bedrock and Gemini simulators", file=out)
            litellm_runner = Runner(client, litellm, roles, prepare=litellm.reset)
            print(format_rows(litellm_runner.run_all()), file=out, flush=True)
            print(f"\nLiteLLM {litellm.version} Router, streaming (stream=True)", file=out)
            print(format_rows(litellm_runner.run_all(STREAM_SCENARIOS)), file=out)
    finally:
        stack.stop()
        sys.stdout.close()
        sys.stdout = out
    return 0


def _litellm_system(roles: Any) -> LiteLLMSystem | None:
    try:
        import litellm
    except ImportError:
        return None
    from functions.adapters.providers.settings import get_provider_settings

    settings = get_provider_settings()
    system = LiteLLMSystem(
        version=getattr(litellm, "__version__", None) or _dist_version(),
        bedrock_endpoint=str(settings.bedrock_endpoint_url),
        bedrock_model=settings.bedrock_model_id,
        region=str(settings.bedrock_region),
        google_endpoint=settings.google_endpoint_url,
        google_model=settings.google_model,
        google_key=settings.google_api_key.get_secret_value() if settings.google_api_key else "local",
        fallback_provider=roles.fallback,
    )
    system.reset()
    return system


def _dist_version() -> str:
    from importlib.metadata import version

    return version("litellm")


@dataclass
class LiteLLMSystem:
    """LiteLLM's in-process Router: one primary (Bedrock Converse) and one fallback (Gemini) deployment, a fresh
    Router per scenario (its cooldowns carry across the flapping sequence, as in failoverbench)."""

    version: str
    bedrock_endpoint: str
    bedrock_model: str
    region: str
    google_endpoint: str
    google_model: str
    google_key: str
    fallback_provider: str
    name: str = "litellm-router"
    router: Any = field(default=None, repr=False)

    def reset(self) -> None:
        import litellm
        from litellm import Router

        litellm.suppress_debug_info = True
        litellm.drop_params = True
        model_list = [
            {
                "model_name": "primary",
                "litellm_params": {
                    "model": f"bedrock/converse/{self.bedrock_model}",
                    "aws_bedrock_runtime_endpoint": self.bedrock_endpoint,
                    "aws_region_name": self.region,
                    "aws_access_key_id": "local",
                    "aws_secret_access_key": "local",
                },
            },
            {
                "model_name": "fallback",
                "litellm_params": {
                    "model": f"gemini/{self.google_model}",
                    "api_base": f"{self.google_endpoint}/v1beta",
                    "api_key": self.google_key,
                },
            },
        ]
        self.router = Router(
            model_list=model_list,
            num_retries=LITELLM_NUM_RETRIES,
            timeout=LITELLM_TIMEOUT_S,
            fallbacks=[{"primary": ["fallback"]}],
            context_window_fallbacks=[{"primary": ["fallback"]}],
        )

    def call(self, timeout_s: float, stream: bool = False) -> Any:
        from local.failure_scenarios import PROMPT, Answer

        sent_at, started = time.time(), time.monotonic()
        messages = [{"role": "user", "content": PROMPT}]
        try:
            if stream:
                chunks = self.router.completion(
                    model="primary", messages=messages, stream=True, stream_options={"include_usage": True}
                )
                return self._streamed(chunks, sent_at, started)
            response = self.router.completion(model="primary", messages=messages)
        except Exception as exc:  # what LiteLLM raised is the finding
            return _raised(exc, sent_at, started, streamed=stream)
        usage = getattr(response, "usage", None)
        model = str(getattr(response, "model", "") or "")
        return Answer(
            200,
            time.monotonic() - started,
            sent_at,
            model=model,
            usage=usage.model_dump() if usage is not None else None,
            content=str(response.choices[0].message.content or ""),
            provider=self._provider(model),
        )

    def _provider(self, model: str) -> str:
        return self.fallback_provider if self.google_model in model else "bedrock"

    def _streamed(self, chunks: Any, sent_at: float, started: float) -> Any:
        """LiteLLM's stream read to its end; an exception raised while reading it is the error its caller sees."""
        from dataclasses import replace

        from local.failure_scenarios import Answer

        parts: list[str] = []
        model, usage, finish = "", None, None
        try:
            for chunk in chunks:
                model = str(getattr(chunk, "model", "") or model)
                if (found := getattr(chunk, "usage", None)) is not None:
                    usage = found.model_dump()
                for choice in chunk.choices or ():
                    parts.append(str(getattr(choice.delta, "content", None) or ""))
                    finish = choice.finish_reason or finish
        except Exception as exc:  # a mid-stream failure, after what was read
            return replace(_raised(exc, sent_at, started, streamed=True), status=200, content="".join(parts))
        return Answer(
            200,
            time.monotonic() - started,
            sent_at,
            model=model,
            usage=usage,
            content="".join(parts),
            provider=self._provider(model),
            streamed=True,
            done=True,  # the iteration ended without an exception: the success a LiteLLM caller sees
            finish_reason=finish,
        )


def _raised(exc: Exception, sent_at: float, started: float, streamed: bool) -> Any:
    from local.failure_scenarios import Answer

    status = getattr(exc, "status_code", None)
    return Answer(
        status if isinstance(status, int) else 599,
        time.monotonic() - started,
        sent_at,
        error_code=type(exc).__name__,
        error_message=str(exc)[:300],
        streamed=streamed,
    )


if __name__ == "__main__":
    sys.exit(main())
