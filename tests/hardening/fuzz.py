"""Hypothesis settings and strategies for the hardening tests: hostile wire input.

Profiles (chosen with HARDENING_PROFILE, default "ci"):

* ``ci``: few examples per property, derandomized (the same inputs every run,
  so CI is reproducible and bounded), no deadline (the machine is shared).
* ``long``: thousands of random examples per property; run by hand:
  ``HARDENING_PROFILE=long .venv/bin/pytest tests/hardening``.

HARDENING_EXAMPLES overrides the example count of either profile. The
settings are applied per test with ``@FUZZ``, never loaded globally, so other
packages' hypothesis tests keep their own settings.
"""

from __future__ import annotations

import os
from typing import Any

import orjson
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from agents.protocol import ErrorCode

_SUPPRESS = [
    HealthCheck.too_slow,
    HealthCheck.function_scoped_fixture,
    HealthCheck.data_too_large,
    HealthCheck.filter_too_much,
]

settings.register_profile(
    "hardening-ci",
    max_examples=50,
    deadline=None,
    derandomize=True,
    suppress_health_check=_SUPPRESS,
    print_blob=True,
    database=None,
)
settings.register_profile(
    "hardening-long",
    max_examples=2000,
    deadline=None,
    derandomize=False,
    suppress_health_check=_SUPPRESS,
    print_blob=True,
)

PROFILE = os.environ.get("HARDENING_PROFILE", "ci")
_base = settings.get_profile(f"hardening-{PROFILE}")
FUZZ = settings(_base, max_examples=int(os.environ.get("HARDENING_EXAMPLES", _base.max_examples)))
# Properties whose single example is expensive (a Redis round trip with blocking waits, a DB snapshot).
FUZZ_SMALL = settings(FUZZ, max_examples=max(5, FUZZ.max_examples * 3 // 5))

ERROR_CODES = frozenset(str(c) for c in ErrorCode)
# Frames that are not answers but may legitimately arrive on a client connection.
CONTROL_TYPES = frozenset({"pong", "event", "bye", "welcome"})

# --- building blocks -----------------------------------------------------------------------------------------

ENVELOPE = [
    "id",
    "request_id",
    "agent",
    "action",
    "data",
    "params",
    "timeout_ms",
    "idempotency_key",
    "interface",
    "type",
    "token",
]
# Actions that exist on the probe/naming agents but never ones that sleep (slow, blocking) or call out.
SAFE_ACTIONS = [
    "echo",
    "whoami",
    "describe",
    "boom",
    "validate_name",
    "list_namespaces",
    "allocate_namespace",
    "no_such_action",
    "",
    "status",
]

HUGE_NUMBERS = [
    "1e999",
    "-1e999",
    "1e-999",
    "123456789012345678901234567890",
    "-123456789012345678901234567890",
    "18446744073709551616",
    "9223372036854775808",
    "-9223372036854775809",
    "1.7976931348623157e309",
    "0e0",
    "-0",
    "-0.0",
    "1E400",
    "4.9e-325",
    "NaN",
    "Infinity",
    "-Infinity",
    "0x10",
    "01",
    "1.",
    ".5",
]

# Raw JSON string bodies (between the quotes) that test Unicode handling: lone surrogates in escapes,
# NUL, bidi controls, emoji, non-characters, escaped and literal.
UNICODE_ESCAPES = [
    "\\ud800",
    "\\udfff",
    "\\ud83d",
    "\\ude00",
    "\\ud83d\\ude00",
    "\\u0000",
    "a\\u0000b",
    "\\u202e",
    "\\u200f\\u202b",
    "\\ufeff",
    "\\uffff",
    "\\ufffe",
    "\\u0085",
    "\\u2028",
    "\\\\",
    "\\/",
    "\\x41",
    "\\u12",
    "\\uZZZZ",
    "\\",
]
UNICODE_LITERALS = [
    "\u202eevil",
    "\u0000",
    "😀" * 3,
    "👩‍👩‍👧‍👦",
    "\u200f\u202b",
    "\U0010ffff",
    "ﷺ",
    "e\u0301",
    "\ufeffBOM",
    "名前",
    "\t\r\x0b\x0c",
]
# Invalid UTF-8: overlong encodings, encoded surrogates (CESU-8), out-of-range, truncated sequences.
BAD_UTF8 = [
    b"\xc0\xaf",
    b"\xc1\xbf",
    b"\xe0\x80\xaf",
    b"\xf0\x80\x80\xaf",
    b"\xed\xa0\x80",
    b"\xed\xbf\xbf",
    b"\xf4\x90\x80\x80",
    b"\xf8\x88\x80\x80\x80",
    b"\xff",
    b"\xfe",
    b"\xc3",
    b"\xe2\x82",
    b"\x80",
]


def json_scalars() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**63), max_value=2**64 - 1),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=20),
        st.sampled_from(UNICODE_LITERALS),
    )


def json_values(max_leaves: int = 12) -> st.SearchStrategy[Any]:
    return st.recursive(
        json_scalars(),
        lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
        max_leaves=max_leaves,
    )


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)


@st.composite
def wrong_type_frames(draw: st.DrawFn, *, agent: str | None = "probe") -> bytes:
    """A request-like object whose envelope fields get values of any (mostly wrong) type."""
    frame: dict[str, Any] = {}
    if agent is not None and draw(st.booleans()):
        frame["agent"] = agent
    if draw(st.booleans()):
        frame["action"] = draw(st.sampled_from(SAFE_ACTIONS))
    for key in draw(st.lists(st.sampled_from(ENVELOPE), max_size=5, unique=True)):
        if key in ("type", "token"):
            frame[key] = draw(st.one_of(json_scalars(), st.sampled_from(["hello", "ping", "client", "bogus"])))
        else:
            frame[key] = draw(json_values())
    if frame.get("type") == "hello" or frame.get("action") == "status":
        frame.pop("action", None)  # hellos are probed separately; status is slow-ish and never wrong
    return _dumps(frame)


@st.composite
def truncated_frames(draw: st.DrawFn) -> bytes:
    frame = {
        "id": draw(st.text(max_size=10)),
        "agent": "probe",
        "action": "echo",
        "data": draw(st.dictionaries(st.text(max_size=6), json_scalars(), max_size=4)),
    }
    raw = _dumps(frame)
    cut = draw(st.integers(min_value=0, max_value=len(raw) - 1))
    return raw[:cut]


@st.composite
def deep_nesting(draw: st.DrawFn) -> bytes:
    depth = draw(st.sampled_from([64, 255, 256, 1000, 1024, 1025, 5000, 50_000]))
    kind = draw(st.sampled_from(["array", "object", "in_data", "unclosed"]))
    if kind == "array":
        return b"[" * depth + b"]" * depth
    if kind == "object":
        return b'{"a":' * depth + b"1" + b"}" * depth
    if kind == "unclosed":
        return b'{"action":"echo","data":' + b"[" * depth
    return b'{"id":"deep","agent":"probe","action":"echo","data":' + b'{"a":' * depth + b"1" + b"}" * depth + b"}"


@st.composite
def huge_numbers(draw: st.DrawFn) -> bytes:
    number = draw(st.sampled_from(HUGE_NUMBERS)).encode()
    slot = draw(st.sampled_from(["id", "timeout_ms", "data", "top", "agent"]))
    if slot == "top":
        return number
    if slot == "data":
        return b'{"id":"n","agent":"probe","action":"echo","data":{"n":' + number + b"}}"
    return b'{"' + slot.encode() + b'":' + number + b',"agent":"probe","action":"echo"}'


@st.composite
def unicode_frames(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["escape", "literal", "bad_utf8"]))
    slot = draw(st.sampled_from(["id", "agent", "action", "data", "key", "idempotency_key", "interface"]))
    if kind == "escape":
        text = draw(st.sampled_from(UNICODE_ESCAPES)).encode()
    elif kind == "literal":
        text = draw(st.sampled_from(UNICODE_LITERALS)).encode("utf-8").replace(b"\\", b"\\\\")
        text = (
            text.replace(b"\x00", b"\\u0000")
            .replace(b"\t", b"\\t")
            .replace(b"\r", b"\\r")
            .replace(b"\x0b", b"\\u000b")
            .replace(b"\x0c", b"\\f")
        )
    else:
        text = b"x" + draw(st.sampled_from(BAD_UTF8)) + b"y"
    quoted = b'"' + text + b'"'
    if slot == "data":
        return b'{"id":"u","agent":"probe","action":"echo","data":{"s":' + quoted + b"}}"
    if slot == "key":
        return b'{"id":"u","agent":"probe","action":"echo","data":{' + quoted + b":1}}"
    base = {"id": b'"u"', "agent": b'"probe"', "action": b'"echo"', "idempotency_key": None, "interface": None}
    base[slot] = quoted
    return b"{" + b",".join(b'"' + k.encode() + b'":' + v for k, v in base.items() if v is not None) + b"}"


def hostile_lines(*, agent: str | None = "probe") -> st.SearchStrategy[bytes]:
    """One hostile "line" (it may itself contain newlines: arbitrary bytes do)."""
    return st.one_of(
        st.binary(max_size=300),
        truncated_frames(),
        deep_nesting(),
        huge_numbers(),
        wrong_type_frames(agent=agent),
        unicode_frames(),
        st.sampled_from(
            [
                b"null",
                b"[]",
                b"{}",
                b'""',
                b"1",
                b"true",
                b'{"a"',
                b"\x00" * 8,
                b'{"id":1,"status":"success","data":{}}',
                b'{"type":"welcome"}',
            ]
        ),
    )


# --- checking what came back ----------------------------------------------------------------------------------


def check_frame(frame: Any) -> None:
    """Fail unless ``frame`` is a well-formed answer or a known control frame."""
    assert isinstance(frame, dict), frame
    if frame.get("type") in CONTROL_TYPES and "status" not in frame:
        return
    assert frame.get("status") in ("success", "error"), frame
    assert "timestamp" in frame, frame
    if frame["status"] == "error":
        err = frame["error"]
        assert err["code"] in ERROR_CODES, frame
        assert isinstance(err["message"], str) and err["message"], frame
        assert isinstance(err.get("details", {}), dict), frame
