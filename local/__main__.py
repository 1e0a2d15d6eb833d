"""`make run`: the whole system on 127.0.0.1. Ctrl-C stops everything. The state (tables, executions,
tokens) is kept in `.local-state/` (`--state-dir` or LOCAL_STATE_DIR elsewhere) across restarts;
`--fresh` starts clean."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import uvicorn


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    from local.state import DEFAULT_STATE_DIR

    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__)
    parser.add_argument("--fresh", action="store_true", help="forget the saved state and start clean")
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path(os.environ.get("LOCAL_STATE_DIR") or DEFAULT_STATE_DIR),
        help="where the state is kept (default .local-state/ in the repository)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    port = int(os.environ.get("PORT", "8080"))
    from local.stack import start
    from local.state import StateDir

    StateDir(args.state_dir).prepare(fresh=args.fresh)
    stack = start(
        port,
        os.environ.get("CLIENT_API_KEY"),
        os.environ.get("ADMIN_TOKEN"),
        serve_gateway_in_thread=False,
        state_dir=args.state_dir,
    )
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
                f"read-only token {os.environ['ADMIN_READONLY_TOKEN']} state {args.state_dir}",
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
