"""Our item codec agrees with boto3's TypeSerializer/TypeDeserializer on the types we store."""

from decimal import Decimal

import pytest
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from functions.adapters.dynamodb.client import from_item, to_item

VALUES = {
    "s": "text",
    "n": 42,
    "d": Decimal("1.5"),
    "b": True,
    "f": False,
    "m": {"flag": True, "w": {"bedrock": 50}},
    "l": ["a", 1, {"x": "y"}],
    "z": None,
}


def test_encoding_matches_boto3_for_every_type_we_store():
    expected = {k: TypeSerializer().serialize(v) for k, v in VALUES.items() if v is not None}
    assert to_item(VALUES) == expected


def test_decoding_matches_boto3_and_round_trips():
    raw = to_item(VALUES)
    assert from_item(raw) == {k: TypeDeserializer().deserialize(v) for k, v in raw.items()}


def test_types_we_do_not_store_are_refused():
    with pytest.raises(TypeError):
        to_item({"bad": object()})
