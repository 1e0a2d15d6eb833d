"""Client API keys for the data plane.

    python -m cli.keys create --client-id NAME --table TABLE [--requests-per-minute N] [--tokens-per-minute N]
    python -m cli.keys limits (--key KEY | --key-hash DIGEST) --table TABLE
        [--requests-per-minute N] [--tokens-per-minute N]

`create` prints the key once and stores only its SHA-256 digest; a limit not given is the router's default
(CLIENT_REQUESTS_PER_MINUTE, CLIENT_TOKENS_PER_MINUTE in functions/domain/thresholds.py). `limits` gives an
existing key its own limits; routers apply them within CLIENT_KEY_CACHE_SECONDS. Uses the caller's AWS
credentials (or AWS_ENDPOINT_URL for the local stack).
"""

from __future__ import annotations

import argparse
import sys

from botocore.exceptions import BotoCoreError, ClientError

from functions.adapters.dynamodb.client_keys import ClientKeyStore, hash_key
from functions.domain.errors import InvalidRequest


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cli.keys", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="create a client key and print it once")
    create.add_argument("--client-id", required=True, help="who the key is for (shown in logs, never the key)")
    limits = commands.add_parser("limits", help="give an existing client key its own quotas")
    which = limits.add_mutually_exclusive_group(required=True)
    which.add_argument("--key", help="the key itself (hashed here, never sent)")
    which.add_argument("--key-hash", help="the key's SHA-256 digest, as stored")
    for command in (create, limits):
        command.add_argument(
            "--table", required=True, help="the ClientKeys table name (stack output ClientKeysTableName)"
        )
        command.add_argument("--requests-per-minute", type=_positive, help="this key's request quota per minute")
        command.add_argument("--tokens-per-minute", type=_positive, help="this key's token quota per minute")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    store = ClientKeyStore(args.table)
    limits = {"requests_per_minute": args.requests_per_minute, "tokens_per_minute": args.tokens_per_minute}
    try:
        if args.command == "create":
            print(store.create(args.client_id, **limits))
        else:
            store.set_limits(args.key_hash or hash_key(args.key), **limits)
            shown = ", ".join(f"{name.replace('_', ' ')}: {value}" for name, value in limits.items() if value)
            print(f"limits set ({shown})")
    except InvalidRequest as exc:
        print(exc.message, file=sys.stderr)
        return 2
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            print("no client key with that digest in this table", file=sys.stderr)
        else:
            print(f"could not store the key: {exc}", file=sys.stderr)
        return 1
    except BotoCoreError as exc:
        print(f"could not store the key: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
