"""Overlapping requests through the local gateway (each served from a thread of one process, as the
canary and drill traffic are): every request is answered as its own, and its metrics are its own.

Before the fix, one request in a few hundred under the canary's traffic lost its route context to
another request's end (KeyError 'request_id', answered 500), was validated against another request's
event (another operation type, another body), or failed flushing the process-wide metric set. The
interpreter's thread switch interval is shortened here so that requests interleave at any bytecode,
which turned that into dozens of failures in a few seconds of traffic.
"""

from __future__ import annotations

import sys
import threading
from collections import Counter

from starlette.testclient import TestClient

from local import metrics_sink
from tests.support import emf_now, reset_routing_state

OPERATIONS = ("infrastructure", "standard", "background", "implementation")
CHAT_THREADS, REQUESTS_PER_THREAD = 8, 12
SWITCH_INTERVAL_S = 1e-6


def test_overlapping_requests_are_each_answered_and_counted_as_their_own(local_stack):
    reset_routing_state(local_stack)
    metrics_sink.install()  # pytest's capture swapped sys.stdout, removing the local metrics tap
    failures: list[str] = []
    served: Counter[str] = Counter()
    admin_statuses: Counter[int] = Counter()
    chat_done = threading.Event()
    tally = threading.Lock()  # `served[x] += 1` is a read and a write: with a 1 us switch interval it loses updates

    def chat(client: TestClient, index: int) -> None:
        operation = OPERATIONS[index % len(OPERATIONS)]
        for n in range(REQUESTS_PER_THREAD):
            body = {"model": f"client-{index}", "messages": [{"role": "user", "content": f"request {index}.{n}"}]}
            response = client.post(
                "/v1/chat/completions",
                json=body,
                headers={"X-Operation-Type": operation, "X-Hybrid-Cache": "bypass"},
            )
            with tally:
                if response.status_code != 200:
                    failures.append(f"{operation}: {response.status_code} {response.text[:200]}")
                elif response.headers["x-hybrid-operation"] != operation:
                    failures.append(f"{operation} answered as {response.headers['x-hybrid-operation']}")
                else:
                    served[operation] += 1

    def admin(client: TestClient) -> None:
        while not chat_done.is_set():
            response = client.get(
                "/admin/config/cache-settings", headers={"Authorization": f"Bearer {local_stack.admin_token}"}
            )
            with tally:
                admin_statuses[response.status_code] += 1

    started = emf_now()
    previous = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    try:
        with TestClient(local_stack.app) as client:
            client.headers["Authorization"] = f"Bearer {local_stack.client_key}"
            chats = [threading.Thread(target=chat, args=(client, i)) for i in range(CHAT_THREADS)]
            operator = threading.Thread(target=admin, args=(client,))
            for thread in (*chats, operator):
                thread.start()
            for thread in chats:
                thread.join(60)
            chat_done.set()
            operator.join(60)
    finally:
        sys.setswitchinterval(previous)

    assert not failures, f"{len(failures)} requests not answered as their own: {Counter(failures).most_common(5)}"
    assert sum(served.values()) == CHAT_THREADS * REQUESTS_PER_THREAD
    assert admin_statuses and set(admin_statuses) == {200}, admin_statuses
    lines = [r for r in metrics_sink.STORE.since(started) if "Requests" in r.values]
    counted = Counter(r.dimensions["OperationType"] for r in lines)
    assert counted == served, "each request's EMF line carries its own operation type, once"
