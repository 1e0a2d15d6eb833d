"""`make run`: the whole system on 127.0.0.1. Ctrl-C stops everything."""

from __future__ import annotations

import os
import sys

import uvicorn


def main() -> int:
    port = int(os.environ.get("PORT", "8080"))
    from local.stack import start

    stack = start(port, os.environ.get("CLIENT_API_KEY"), os.environ.get("ADMIN_TOKEN"), serve_gateway_in_thread=False)
    config = uvicorn.Config(
        stack.app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    original_startup = server.startup

    async def startup(sockets=None):  # type: ignore[no-untyped-def]
        await original_startup(sockets)
        if server.started:
            print(
                f"hybrid-routing local stack ready on http://127.0.0.1:{port}/v1 "
                f"client key {stack.client_key} admin token {stack.admin_token} "
                f"read-only token {os.environ['ADMIN_READONLY_TOKEN']}",
                file=sys.stderr,
                flush=True,
            )

    server.startup = startup  # type: ignore[method-assign]
    try:
        server.run()
    except KeyboardInterrupt:
        pass  # uvicorn re-raises the Ctrl-C it handled; the shutdown below is the clean exit
    finally:
        stack.stop()
        print("hybrid-routing local stack stopped", file=sys.stderr, flush=True)
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
