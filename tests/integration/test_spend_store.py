"""Monthly spend over moto's DynamoDB: atomic ADDs from many instances, nothing lost on failure."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import boto3
import pytest
from botocore.stub import ANY, Stubber

from functions.adapters import aws
from functions.adapters.dynamodb import spend as spend_module
from functions.adapters.dynamodb.client import dynamodb_client, from_item
from functions.adapters.dynamodb.spend import SpendAccumulator, parse_spent, spend_key
from local.tables import create_tables
from tests.clock import FakeClock
from tests.support import unique_prefix, use_local_moto

MAY = datetime(2025, 5, 31, 23, 59, 50, tzinfo=UTC).timestamp()
JUNE = datetime(2025, 6, 1, 0, 0, 10, tzinfo=UTC).timestamp()


@pytest.fixture
def spend_table(monkeypatch, local_stack) -> Iterator[str]:
    """moto in process, our tables created from the stack's schemas; fresh clients inside the mock."""
    use_local_moto(monkeypatch, local_stack)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    _clear_clients()
    yield create_tables(boto3.client("dynamodb", region_name="us-east-1"), prefix=unique_prefix())["SPEND_TABLE"]
    _clear_clients()


def _clear_clients() -> None:
    dynamodb_client.cache_clear()
    aws.client.cache_clear()
    aws.session.cache_clear()


def _item(table: str, now: float) -> dict | None:
    raw = boto3.client("dynamodb").get_item(TableName=table, Key={"pk": {"S": spend_key(now)}}).get("Item")
    return from_item(raw) if raw else None


def _throttle_updates(stub: Stubber) -> None:
    for _ in range(3):  # the client's standard retry mode tries three times
        stub.add_client_error("update_item", "ProvisionedThroughputExceededException", http_status_code=400)


def test_the_spend_key_is_the_utc_month():
    assert spend_key(MAY) == "spend#2025-05"
    assert spend_key(JUNE) == "spend#2025-06"


def test_parse_spent_reads_decoded_and_raw_items_and_absent_ones_as_zero():
    assert parse_spent({"spent_usd": Decimal("1.5")}) == 1.5
    assert parse_spent({"spent_usd": {"N": "2.25"}}) == 2.25
    assert parse_spent(None) == 0.0
    assert parse_spent({"pk": "spend#2025-05"}) == 0.0


def test_a_flush_adds_the_total_and_each_providers_share_in_micro_dollars(spend_table):
    # Given spend on two providers
    spend = SpendAccumulator(spend_table, clock=lambda: MAY)
    spend.add(0.1234564, "bedrock")
    spend.add(0.5, "bedrock")
    spend.add(0.25, "google")
    # When it is flushed
    spend.flush()
    # Then the month's item has the total and per-provider attributes, at 6 decimals
    item = _item(spend_table, MAY)
    assert item is not None
    assert item["spent_usd"] == Decimal("0.873456")
    assert item["spent_usd_bedrock"] == Decimal("0.623456")
    assert item["spent_usd_google"] == Decimal("0.25")


def test_nothing_is_written_before_the_flush_interval_has_passed(spend_table):
    spend = SpendAccumulator(spend_table, flush_interval_s=5.0, clock=lambda: MAY)
    spend.add(1.0, "bedrock")
    spend.maybe_flush(MAY + 4.9)
    assert _item(spend_table, MAY) is None
    spend.maybe_flush(MAY + 5.0)
    assert parse_spent(_item(spend_table, MAY)) == 1.0


class _OneUpdateAtATime:
    """DynamoDB applies the updates of one item one at a time; moto's in-process backend does not
    (concurrent ADDs there can lose increments), so calls are serialized here as the service does."""

    def __init__(self, client) -> None:
        self._client, self._lock = client, threading.Lock()

    def update_item(self, **kwargs):
        with self._lock:
            return self._client.update_item(**kwargs)

    def __getattr__(self, name):
        return getattr(self._client, name)


def test_two_instances_flushing_concurrently_add_up(spend_table, monkeypatch):
    serialized = _OneUpdateAtATime(dynamodb_client())
    monkeypatch.setattr(spend_module, "dynamodb_client", lambda: serialized)
    # Given two router instances, each adding 100 costs of 0.01 USD from several threads
    instances = [SpendAccumulator(spend_table, flush_interval_s=0.0, clock=lambda: MAY) for _ in range(2)]

    def work(spend: SpendAccumulator) -> None:
        for _ in range(25):
            spend.add(0.01, "bedrock")
            spend.maybe_flush(MAY + 1)

    threads = [threading.Thread(target=work, args=(spend,)) for spend in instances for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for spend in instances:
        spend.flush()
    # Then the table holds every cent once
    item = _item(spend_table, MAY)
    assert item is not None
    assert item["spent_usd"] == Decimal("2.00")
    assert item["spent_usd_bedrock"] == Decimal("2.00")


def test_a_failed_flush_keeps_the_amount_and_the_next_flush_writes_it(spend_table):
    # Given a flush that DynamoDB throttles
    spend = SpendAccumulator(spend_table, clock=lambda: MAY)
    spend.add(1.25, "bedrock")
    with Stubber(dynamodb_client()) as stub:
        _throttle_updates(stub)
        spend.flush()
    assert _item(spend_table, MAY) is None
    assert spend.pending() == {"spend#2025-05": {"bedrock": Decimal("1.25")}}
    # When spend continues and the next flush succeeds
    spend.add(0.75, "bedrock")
    spend.flush()
    # Then both amounts are in the table, and nothing is pending
    assert parse_spent(_item(spend_table, MAY)) == 2.0
    assert spend.pending() == {}


def test_spend_is_flushed_to_the_month_it_was_incurred_in(spend_table):
    # Given spend just before and just after midnight at the end of May, flushed in June
    spend = SpendAccumulator(spend_table, clock=lambda: JUNE)
    spend.add(3.0, "bedrock", now=MAY)
    spend.add(1.0, "bedrock", now=JUNE)
    spend.flush()
    # Then each month's item has its own amount
    assert parse_spent(_item(spend_table, MAY)) == 3.0
    assert parse_spent(_item(spend_table, JUNE)) == 1.0


def test_amounts_below_a_micro_dollar_wait_until_they_add_up(spend_table):
    spend = SpendAccumulator(spend_table, clock=lambda: MAY)
    spend.add(0.0000004, "mcp-tools")
    spend.flush()
    assert _item(spend_table, MAY) is None
    spend.add(0.0000007, "mcp-tools")
    spend.flush()
    assert _item(spend_table, MAY)["spent_usd_mcp_tools"] == Decimal("0.000001")


def test_negative_or_not_finite_costs_are_ignored(spend_table):
    spend = SpendAccumulator(spend_table, clock=lambda: MAY)
    for bad in (-1.0, float("nan"), float("inf")):
        spend.add(bad, "bedrock")
    assert spend.pending() == {}


def test_spent_is_the_table_total_plus_this_instances_pending_spend(spend_table):
    # Given 5 USD already flushed by another instance, and 0.5 USD pending here
    other = SpendAccumulator(spend_table, clock=lambda: MAY)
    other.add(5.0, "google")
    other.flush()
    spend = SpendAccumulator(spend_table, clock=lambda: MAY)
    spend.add(0.5, "bedrock")
    # Then this instance sees 5.5 USD spent this month
    assert spend.spent_usd(MAY) == pytest.approx(5.5)


def test_spent_does_not_dip_after_a_flush_and_includes_what_others_flushed(spend_table):
    # Given this instance read 5 USD, then another instance flushed 2 USD more
    clock = FakeClock(MAY)
    spend = SpendAccumulator(spend_table, flush_interval_s=5.0, clock=clock)
    seed = SpendAccumulator(spend_table, clock=lambda: MAY)
    seed.add(5.0, "google")
    seed.flush()
    assert spend.spent_usd() == pytest.approx(5.0)
    other = SpendAccumulator(spend_table, clock=lambda: MAY)
    other.add(2.0, "meta")
    other.flush()
    # When this instance flushes its own 1 USD within the re-read interval
    spend.add(1.0, "bedrock")
    clock.advance(1)
    spend.flush()
    # Then it sees the table's new total at once (8 USD), not its stale 5 USD without the pending 1 USD
    assert spend.spent_usd() == pytest.approx(8.0)


def test_spent_is_unknown_when_the_table_was_never_readable(spend_table):
    spend = SpendAccumulator("no-such-table", clock=lambda: MAY)
    assert spend.spent_usd(MAY) is None
    spend.add(1.0, "bedrock")
    spend.flush()  # does not raise
    assert spend.pending() == {"spend#2025-05": {"bedrock": Decimal("1.0")}}


def test_providers_whose_names_share_an_attribute_are_added_together(spend_table):
    spend = SpendAccumulator(spend_table, clock=lambda: MAY)
    spend.add(1.0, "meta-llama")
    spend.add(2.0, "meta_llama")
    spend.flush()
    assert _item(spend_table, MAY)["spent_usd_meta_llama"] == Decimal("3.0")
    assert spend.pending() == {}


# --- the spend counted in the flags table by stacks deployed before the Spend table -----------------------------
@pytest.fixture
def spend_and_flags(monkeypatch, local_stack) -> Iterator[tuple[str, str]]:
    """A Spend table and a Flags table of their own, in the local stack's moto."""
    use_local_moto(monkeypatch, local_stack)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    _clear_clients()
    tables = create_tables(boto3.client("dynamodb", region_name="us-east-1"), prefix=unique_prefix())
    yield tables["SPEND_TABLE"], tables["FLAGS_TABLE"]
    _clear_clients()


def _legacy(flags_table: str, now: float, total: str, **by_provider: str) -> None:
    """The month's item as the router of an older stack left it in the flags table."""
    item = {"pk": {"S": spend_key(now)}, "spent_usd": {"N": total}, "updated_at": {"N": "1"}}
    item |= {f"spent_usd_{provider}": {"N": amount} for provider, amount in by_provider.items()}
    boto3.client("dynamodb").put_item(TableName=flags_table, Item=item)


def test_a_month_with_no_spend_item_starts_from_the_legacy_item_in_the_flags_table(spend_and_flags):
    spend_table, flags_table = spend_and_flags
    # Given an upgraded stack: 40 USD of May counted in the flags table, nothing in the Spend table
    _legacy(flags_table, MAY, "40.5", bedrock="30.5", google="10")
    spend = SpendAccumulator(spend_table, clock=lambda: MAY, legacy_table=flags_table)
    # When the budget guard reads the month's spend
    # Then it sees the legacy spend
    assert spend.spent_usd(MAY) == pytest.approx(40.5)
    # And the Spend table now holds one item carrying it over, by provider, marked as carried
    items = boto3.client("dynamodb").scan(TableName=spend_table)["Items"]
    assert len(items) == 1
    item = from_item(items[0])
    assert (item["spent_usd"], item["spent_usd_bedrock"], item["spent_usd_google"]) == (
        Decimal("40.5"),
        Decimal("30.5"),
        Decimal("10"),
    )
    assert item["legacy_carried_usd"] == Decimal("40.5")
    # And new spend adds to the carried total; the flags table is left as it was
    spend.add(2.0, "bedrock")
    spend.flush()
    assert parse_spent(_item(spend_table, MAY)) == pytest.approx(42.5)
    legacy = boto3.client("dynamodb").get_item(TableName=flags_table, Key={"pk": {"S": spend_key(MAY)}})["Item"]
    assert legacy["spent_usd"]["N"] == "40.5"


def test_spend_flushed_before_the_first_read_is_added_to_the_legacy_spend(spend_and_flags):
    spend_table, flags_table = spend_and_flags
    # Given 40 USD of May in the flags table, and an upgraded instance that flushed 1 USD before any read
    _legacy(flags_table, MAY, "40")
    early = SpendAccumulator(spend_table, clock=lambda: MAY, legacy_table=flags_table)
    early.add(1.0, "bedrock")
    early.flush()
    # When an instance reads the month's spend
    # Then it sees both, and so does the table
    assert SpendAccumulator(spend_table, clock=lambda: MAY, legacy_table=flags_table).spent_usd(MAY) == 41.0
    assert parse_spent(_item(spend_table, MAY)) == 41.0


def test_concurrent_first_reads_carry_the_legacy_spend_over_once(spend_and_flags):
    spend_table, flags_table = spend_and_flags
    # Given 25 USD of May in the flags table, and eight router instances starting at once
    _legacy(flags_table, MAY, "25", meta="25")
    instances = [SpendAccumulator(spend_table, clock=lambda: MAY, legacy_table=flags_table) for _ in range(8)]
    seen: list[float | None] = []
    lock = threading.Lock()

    def read(spend: SpendAccumulator) -> None:
        value = spend.spent_usd(MAY)
        with lock:
            seen.append(value)

    # When each reads the month's spend from two threads
    threads = [threading.Thread(target=read, args=(spend,)) for spend in instances for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then every read saw the legacy spend, and the Spend table holds it once
    assert seen == [25.0] * 16
    item = _item(spend_table, MAY)
    assert item is not None
    assert (item["spent_usd"], item["spent_usd_meta"], item["legacy_carried_usd"]) == (Decimal(25),) * 3
    # And a later instance reads the same total: the marker stops a second carry-over
    assert SpendAccumulator(spend_table, clock=lambda: MAY, legacy_table=flags_table).spent_usd(MAY) == 25.0


def test_a_month_without_legacy_spend_is_marked_once_and_a_legacy_read_failure_still_counts_it(spend_and_flags):
    spend_table, flags_table = spend_and_flags
    # Given June with no legacy item: the first read marks the month carried with 0
    assert SpendAccumulator(spend_table, clock=lambda: JUNE, legacy_table=flags_table).spent_usd(JUNE) == 0.0
    assert _item(spend_table, JUNE) == {"pk": spend_key(JUNE), "legacy_carried_usd": Decimal(0)}
    # Given May's legacy 12 USD and a Spend table whose carry-over write fails (throttled)
    _legacy(flags_table, MAY, "12")
    spend = SpendAccumulator(spend_table, clock=lambda: MAY, legacy_table=flags_table)
    with Stubber(dynamodb_client()) as stub:
        stub.add_response("get_item", {}, {"TableName": spend_table, "Key": ANY, "ConsistentRead": False})
        stub.add_response("get_item", {"Item": {"pk": {"S": spend_key(MAY)}, "spent_usd": {"N": "12"}}})
        _throttle_updates(stub)
        # Then the guard still sees the legacy spend
        assert spend.spent_usd(MAY) == 12.0
    # And the next read carries it over
    assert SpendAccumulator(spend_table, clock=lambda: MAY, legacy_table=flags_table).spent_usd(MAY) == 12.0
    assert _item(spend_table, MAY)["legacy_carried_usd"] == Decimal(12)
