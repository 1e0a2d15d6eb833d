"""Client API keys for the data plane: `python -m cli.keys create --client-id NAME --table TABLE`.

The key is printed once and stored only as its SHA-256 digest. Uses the caller's AWS credentials
(or AWS_ENDPOINT_URL for the local stack). Will become `hybridctl keys` with the operator CLI.
"""

from __future__ import annotations

import argparse
import sys

from botocore.exceptions import BotoCoreError, ClientError

from functions.adapters.dynamodb.client_keys import ClientKeyStore


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cli.keys", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="create a client key and print it once")
    create.add_argument("--client-id", required=True, help="who the key is for (shown in logs, never the key)")
    create.add_argument("--table", required=True, help="the ClientKeys table name (stack output ClientKeysTableName)")
    args = parser.parse_args(argv)
    try:
        key = ClientKeyStore(args.table).create(args.client_id)
    except (ClientError, BotoCoreError) as exc:
        print(f"could not store the key: {exc}", file=sys.stderr)
        return 1
    print(key)
    return 0


if __name__ == "__main__":
    sys.exit(main())
