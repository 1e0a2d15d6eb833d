"""The local stack's state across restarts. moto keeps everything in memory and has no persistence of its
own (its recorder replays requests, which would re-run every execution), so the DynamoDB tables are
saved here: a consistent cut of every table (all DynamoDB calls paused while it is read) written to
`<state dir>/dynamodb.json` (temp file + rename) within PERSIST_INTERVAL_S of any write, and at shutdown;
restored at start. Rollout executions are kept as a record (`executions.json`); one that was running
when the stack died is ended on restart (local/workflows.py). The tokens and the client key chosen at
first start are kept in `credentials.json` (mode 0600). The audit trail's key material and its anchors
(`audit-trail.json`, mode 0600) come back too, or the restored trail's MACs and cut-tail check would
be against a new key and no anchors: moto's KMS has no ImportKeyMaterial, so the material is read from
and put back into the in-process moto's KMS backend (the local stack only)."""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_STATE_DIR = Path(__file__).resolve().parent.parent / ".local-state"
TABLES_FILE, EXECUTIONS_FILE, CREDENTIALS_FILE = "dynamodb.json", "executions.json", "credentials.json"
AUDIT_TRAIL_FILE = "audit-trail.json"
PERSIST_INTERVAL_S = 0.25  # a kill loses at most this much (the README promises under 1 s)
SNAPSHOT_HEADER = "X-Local-Snapshot"
READ_OPERATIONS = frozenset(
    {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems", "DescribeTable", "ListTables"}
    | {"DescribeTimeToLive", "ListTagsOfResource", "DescribeContinuousBackups", "DescribeEndpoints"}
)
BATCH = 25  # BatchWriteItem's limit
ANCHORS_BATCH = 1000  # anchor events per PutLogEvents (its limit is 10,000 events and 1 MB)


class DynamoDBGate:
    """A WSGI wrapper of moto's app serving DynamoDB calls one at a time (DynamoDB applies each
    conditional write and transaction atomically; moto's threaded server does not) and counting the
    writes. A request carrying the `bypass` token in SNAPSHOT_HEADER is the persister reading under
    the lock it holds."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.writes = 0
        self.bypass = secrets.token_hex(16)

    def wrap(self, app: Any) -> Any:
        header = "HTTP_" + SNAPSHOT_HEADER.upper().replace("-", "_")

        def gated(environ: dict[str, Any], start_response: Any) -> Any:
            target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
            if not target.startswith("DynamoDB_"):
                return app(environ, start_response)
            if environ.get(header) == self.bypass:
                return list(app(environ, start_response))
            with self.lock:
                body = list(app(environ, start_response))
                if target.partition(".")[2] not in READ_OPERATIONS:
                    self.writes += 1
                return body

        return gated


def write_atomic(path: Path, data: Any, mode: int = 0o644) -> None:
    """`data` as JSON at `path`: written to a temporary file beside it, then renamed over it."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(data, out, separators=(",", ":"))
    os.replace(temporary, path)


def read_json(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default


@dataclass
class StateDir:
    path: Path
    audit_trail: dict[str, str] = field(default_factory=dict)  # the key material and the anchor log group

    def prepare(self, fresh: bool) -> None:
        """Create the directory; `fresh` empties it first."""
        if fresh and self.path.exists():
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)

    def credentials(self) -> dict[str, str]:
        return dict(read_json(self.path / CREDENTIALS_FILE, {}))

    def save_credentials(self, credentials: dict[str, str]) -> None:
        write_atomic(self.path / CREDENTIALS_FILE, credentials, mode=0o600)

    def executions(self) -> dict[str, dict[str, Any]]:
        return dict(read_json(self.path / EXECUTIONS_FILE, {}))

    def save_executions(self, executions: dict[str, dict[str, Any]]) -> None:
        write_atomic(self.path / EXECUTIONS_FILE, executions)

    def restore_audit_trail(self, key_arn: str, log_group: str) -> int:
        """The saved key material into the key at `key_arn` (or, at first start, the key's material
        saved), and the saved anchors into `log_group`'s stream; the number of anchors restored."""
        import boto3

        from functions.domain.names import AUDIT_ANCHOR_STREAM

        key = _moto_kms_key(key_arn)
        saved = read_json(self.path / AUDIT_TRAIL_FILE, {})
        if saved.get("key_material"):
            key.key_material = base64.b64decode(saved["key_material"])
        self.audit_trail = {"key_material": base64.b64encode(key.key_material).decode("ascii"), "group": log_group}
        events = saved.get("anchors") or []
        logs = boto3.client("logs")
        for start in range(0, len(events), ANCHORS_BATCH):
            batch = events[start : start + ANCHORS_BATCH]
            logs.put_log_events(logGroupName=log_group, logStreamName=AUDIT_ANCHOR_STREAM, logEvents=batch)
        self.save_audit_trail(events)
        return len(events)

    def save_audit_trail(self, anchors: list[dict[str, Any]]) -> None:
        if self.audit_trail:
            write_atomic(self.path / AUDIT_TRAIL_FILE, {**self.audit_trail, "anchors": anchors}, mode=0o600)

    def restore_tables(self, dynamodb: Any) -> int:
        """Put every saved item back; the number of items restored."""
        restored = 0
        for table, items in read_json(self.path / TABLES_FILE, {}).items():
            for start in range(0, len(items), BATCH):
                requests = [{"PutRequest": {"Item": _decode(item)}} for item in items[start : start + BATCH]]
                pending: dict[str, Any] = {table: requests}
                while pending:
                    pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
                restored += len(requests)
        return restored


@dataclass
class StatePersister:
    """Saves the tables within `interval` seconds of a write (and the executions' record) on a daemon
    thread; `stop()` saves a last time."""

    state: StateDir
    gate: DynamoDBGate
    dynamodb: Any  # a boto3 DynamoDB client of the local moto
    tables: list[str]
    sfn: Any = None
    machines: list[str] = field(default_factory=list)
    logs: Any = None  # a boto3 CloudWatch Logs client of the local moto (the audit trail's anchors)
    interval: float = PERSIST_INTERVAL_S
    saved_writes: int = -1
    executions: dict[str, dict[str, Any]] = field(default_factory=dict)
    _stopped: threading.Event = field(default_factory=threading.Event)
    _flush_lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None

    def start(self) -> StatePersister:
        token = self.gate.bypass
        self.dynamodb.meta.events.register(
            "before-sign.dynamodb.*", lambda request, **_: request.headers.__setitem__(SNAPSHOT_HEADER, token)
        )
        self.executions = self.state.executions()
        self._thread = threading.Thread(target=self._run, name="state-persister", daemon=True)
        self._thread.start()
        return self

    def status(self) -> dict[str, Any]:
        return {
            "directory": str(self.state.path),
            "writes": self.gate.writes,
            "savedWrites": self.saved_writes,
            "executions": sorted(self.executions.values(), key=lambda e: str(e.get("startDate"))),
        }

    def flush(self) -> None:
        with self._flush_lock:
            if self.gate.writes != self.saved_writes:
                writes, tables = self._cut()
                write_atomic(self.state.path / TABLES_FILE, tables)
                self._save_anchors()  # before the writes count as saved: an anchor follows its append
                self.saved_writes = writes
            if self.sfn is not None and self._record_executions():
                self.state.save_executions(self.executions)

    def record(self, arn: str, summary: dict[str, Any]) -> None:
        with self._flush_lock:
            self.executions[arn] = summary
            self.state.save_executions(self.executions)

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(10)
        self.flush()
        self._save_anchors()  # the last anchor may follow the last table write's save

    def _cut(self) -> tuple[int, dict[str, list[dict[str, Any]]]]:
        """Every table, read while no other DynamoDB call runs."""
        with self.gate.lock:
            writes = self.gate.writes
            tables = {}
            for table in self.tables:
                items: list[dict[str, Any]] = []
                for page in self.dynamodb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
                    items += [_encode(item) for item in page["Items"]]
                tables[table] = items
        return writes, tables

    def _save_anchors(self) -> None:
        """The audit trail's anchors (each follows an audit append, a table write, or is the last save's)."""
        group = self.state.audit_trail.get("group")
        if not group:
            return
        from functions.domain.names import AUDIT_ANCHOR_STREAM

        events, kwargs = [], {"logGroupName": group, "logStreamName": AUDIT_ANCHOR_STREAM, "startFromHead": True}
        while True:
            page = self.logs.get_log_events(**kwargs)
            events += [{"timestamp": e["timestamp"], "message": e["message"]} for e in page.get("events") or []]
            if not page.get("events") or page.get("nextForwardToken") == kwargs.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextForwardToken"]
        self.state.save_audit_trail(events)

    def _record_executions(self) -> bool:
        changed = False
        for machine in self.machines:
            for page in self.sfn.get_paginator("list_executions").paginate(stateMachineArn=machine):
                for execution in page["executions"]:
                    summary = {
                        "executionArn": execution["executionArn"],
                        "stateMachineArn": machine,
                        "name": execution["name"],
                        "status": execution["status"],
                        "startDate": _iso(execution.get("startDate")),
                        "stopDate": _iso(execution.get("stopDate")),
                    }
                    if self.executions.get(summary["executionArn"]) != summary:
                        self.executions[summary["executionArn"]] = summary
                        changed = True
        return changed

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            try:
                self.flush()
            except Exception:
                import logging

                logging.getLogger(__name__).exception("saving the local state failed")


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def _encode(value: Any) -> Any:
    """A DynamoDB item (low-level shape) as JSON: binary values base64."""
    if isinstance(value, bytes):
        return {"$b64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, dict):
        return {key: _encode(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_encode(inner) for inner in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$b64"}:
            return base64.b64decode(value["$b64"])
        return {key: _decode(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_decode(inner) for inner in value]
    return value


def _moto_kms_key(key_arn: str) -> Any:
    """The in-process moto's KMS key object at `key_arn` (arn:aws:kms:<region>:<account>:key/<id>)."""
    from moto.kms.models import kms_backends

    _, _, _, region, account, resource = key_arn.split(":", 5)
    return kms_backends[account][region].keys[resource.split("/", 1)[1]]
