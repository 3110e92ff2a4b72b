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


@pytest.mark.parametrize("frame, fragment", [
    ({"agent": "naming"}, "action"),
    ({"action": "x"}, "agent"),
    ({"action": "x", "agent": "n", "data": [1]}, "data"),
    ({"action": "x", "agent": "n", "timeout_ms": -1}, "timeout_ms"),
    ({"action": "x", "agent": "n", "id": {"a": 1}}, "id"),
])
def test_normalize_names_what_is_wrong(frame, fragment):
    with pytest.raises(ProtocolError) as exc:
        protocol.normalize_request(frame)
    assert exc.value.code == ErrorCode.INVALID_REQUEST
    assert fragment in exc.value.message


def test_line_buffer_splits_chunks_and_keeps_partial_frames():
    buf = LineBuffer(max_bytes=100)
    assert buf.feed(b'{"a":1}\n{"b"') == [b'{"a":1}']
    assert buf.pending == 4
    assert buf.feed(b':2}\n\n') == [b'{"b":2}']
    assert buf.pending == 0


def test_line_buffer_refuses_a_frame_over_the_limit_even_before_its_newline():
    buf = LineBuffer(max_bytes=10)
    with pytest.raises(FrameTooLarge):
        buf.feed(b"x" * 11)
    with pytest.raises(FrameTooLarge):
        LineBuffer(max_bytes=10).feed(b"x" * 11 + b"\n")


def test_error_frame_has_the_documented_shape():
    frame = protocol.error("r1", ErrorCode.NOT_FOUND, "nope", {"k": 1})
    assert frame["status"] == "error"
    assert frame["error"] == {"code": "NOT_FOUND", "message": "nope", "details": {"k": 1}}
    assert frame["timestamp"].endswith("Z")
