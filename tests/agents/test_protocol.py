from __future__ import annotations

import pytest

from agents import protocol
from agents.protocol import ErrorCode, FrameTooLarge, LineBuffer, ProtocolError


def test_decode_rejects_non_json_with_invalid_json():
    with pytest.raises(ProtocolError) as exc:
        protocol.decode(b"{not json")
    assert exc.value.code == ErrorCode.INVALID_JSON


def test_decode_rejects_non_object_with_invalid_request():
    with pytest.raises(ProtocolError) as exc:
        protocol.decode(b"[1, 2]")
    assert exc.value.code == ErrorCode.INVALID_REQUEST


def test_normalize_takes_top_level_keys_as_data_when_no_data_given():
    req = protocol.normalize_request({"action": "allocate_namespace", "environment": "test"}, default_agent="naming")
    assert req["agent"] == "naming"
    assert req["data"] == {"environment": "test"}
    assert req["id"].startswith("req_")


def test_normalize_accepts_params_and_request_id_aliases():
    req = protocol.normalize_request({"request_id": "r1", "agent": "naming", "action": "x", "params": {"a": 1}})
    assert req["id"] == "r1" and req["data"] == {"a": 1}


@pytest.mark.parametrize(
    "frame, fragment",
    [
        ({"agent": "naming"}, "action"),
        ({"action": "x"}, "agent"),
        ({"action": "x", "agent": "n", "data": [1]}, "data"),
        ({"action": "x", "agent": "n", "timeout_ms": -1}, "timeout_ms"),
        ({"action": "x", "agent": "n", "id": {"a": 1}}, "id"),
        ({"action": 123, "agent": "n"}, "'action' must be a non-empty string"),
        ({"action": "", "agent": "n"}, "'action' must be a non-empty string"),
    ],
)
def test_normalize_names_what_is_wrong(frame, fragment):
    with pytest.raises(ProtocolError) as exc:
        protocol.normalize_request(frame)
    assert exc.value.code == ErrorCode.INVALID_REQUEST
    assert fragment in exc.value.message


def test_line_buffer_splits_chunks_and_keeps_partial_frames():
    buf = LineBuffer(max_bytes=100)
    assert buf.feed(b'{"a":1}\n{"b"') == [b'{"a":1}']
    assert buf.pending == 4
    assert buf.feed(b":2}\n\n") == [b'{"b":2}']
    assert buf.pending == 0


def test_line_buffer_refuses_a_frame_over_the_limit_even_before_its_newline():
    buf = LineBuffer(max_bytes=10)
    with pytest.raises(FrameTooLarge):
        buf.feed(b"x" * 11)
    with pytest.raises(FrameTooLarge):
        LineBuffer(max_bytes=10).feed(b"x" * 11 + b"\n")


def test_line_buffer_in_discard_mode_skips_an_oversized_line_to_its_newline_and_keeps_the_rest():
    buf = LineBuffer(max_bytes=16, discard_oversized=True)
    assert buf.feed(b'{"a":1}\n{"id":7,"pad":"') == [b'{"a":1}']
    assert buf.feed(b"x" * 1000) == [] and buf.pending == 0  # nothing of the long line is buffered
    assert buf.feed(b'x"}\n{"b":2}\n{"id":"s","long":1234567}\n{"c":3}') == [b'{"b":2}']
    assert [(d.size, d.request_id) for d in buf.dropped] == [(1018, 7), (25, "s")]
    assert buf.feed(b"\n") == [b'{"c":3}']


@pytest.mark.parametrize(
    "head, rid",
    [
        (b'{"id":12,"status":"success","data":{"pad":"xxx', 12),
        (b'{"request_id": "a\\"b", "action": "x', 'a"b'),
        (b'{"agent":"naming","id":"r-1","data":{"x', "r-1"),
        (b'{"data":{"pad":"xxxxxxxx', None),
        (b'{"id":"unterminated', None),
    ],
)
def test_the_id_of_an_oversized_frame_is_recovered_from_its_first_bytes(head, rid):
    assert protocol.id_from_head(head) == rid


def test_encode_bounded_replaces_an_answer_over_the_limit_with_message_too_large():
    data, refused = protocol.encode_bounded(protocol.success(5, {"pad": "x" * 200}), 100)
    frame = protocol.decode(data)
    assert refused and frame["id"] == 5 and frame["error"]["code"] == "MESSAGE_TOO_LARGE"
    assert frame["error"]["details"]["max_bytes"] == 100 and frame["error"]["details"]["bytes"] > 200
    assert protocol.encode_bounded(protocol.success(5, {"pad": "x"}), 100)[1] is False


def test_error_frame_has_the_documented_shape():
    frame = protocol.error("r1", ErrorCode.NOT_FOUND, "nope", {"k": 1})
    assert frame["status"] == "error"
    assert frame["error"] == {"code": "NOT_FOUND", "message": "nope", "details": {"k": 1}}
    assert frame["timestamp"].endswith("Z")
