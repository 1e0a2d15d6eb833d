"""The simulators' stream plumbing: the AWS event stream encoder (read back by botocore's own decoder),
where a stream fault strikes, and the `in_stream` fault setting."""

from __future__ import annotations

import json

import pytest
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from local.faults import FaultSpec
from local.sim_eventstream import event_frame, exception_frame, frame
from local.sim_stream import fault_point, word_pieces


def decoded(data: bytes) -> list:
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    return list(buffer)


def test_an_event_frame_decodes_with_botocore_to_its_headers_and_json_payload():
    (message,) = decoded(event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hé "}}))

    assert message.headers == {
        ":event-type": "contentBlockDelta",
        ":content-type": "application/json",
        ":message-type": "event",
    }
    assert json.loads(message.payload) == {"contentBlockIndex": 0, "delta": {"text": "Hé "}}
    assert message.to_response_dict()["status_code"] == 200


def test_an_exception_frame_is_an_exception_message_of_its_type():
    (message,) = decoded(exception_frame("throttlingException", "slow down"))

    assert message.headers[":message-type"] == "exception"
    assert message.headers[":exception-type"] == "throttlingException"
    assert json.loads(message.payload) == {"message": "slow down"}
    assert message.to_response_dict()["status_code"] == 400


def test_frames_sent_back_to_back_decode_one_by_one():
    frames = [
        event_frame("messageStart", {"role": "assistant"}),
        event_frame("messageStop", {"stopReason": "end_turn"}),
    ]

    assert [m.headers[":event-type"] for m in decoded(b"".join(frames))] == ["messageStart", "messageStop"]


def test_a_corrupt_message_crc_is_refused_by_botocore():
    with pytest.raises(ChecksumMismatch):
        decoded(frame({":message-type": "event"}, b"{}", corrupt_crc=True))


@given(st.text(alphabet=st.characters(categories=("L", "N", "P")), max_size=40).map(lambda s: " ".join(s.split())))
def test_word_pieces_join_back_to_the_text_one_word_each(text):
    pieces = word_pieces(text)

    assert "".join(pieces) == text
    assert len(pieces) == len(text.split())


@pytest.mark.parametrize(
    ("pieces", "after", "expected"), [(10, None, 5), (10, 3, 3), (10, 0, 0), (10, 99, 10), (1, None, 0)]
)
def test_a_stream_fault_strikes_after_its_tokens_or_mid_answer(pieces, after, expected):
    assert fault_point(pieces, after) == expected


def test_in_stream_is_a_way_to_answer_an_error_only():
    assert FaultSpec(provider="meta", mode="error", status=429, in_stream=True).in_stream

    with pytest.raises(ValidationError, match="in_stream"):
        FaultSpec(provider="meta", mode="cut", in_stream=True)
