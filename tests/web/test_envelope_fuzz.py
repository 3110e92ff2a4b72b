"""Whatever a client sends, the web side answers with an error envelope and a
fitting status, never an exception (property test over arbitrary JSON)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from agents.protocol import ProtocolError
from orchestrator_site.web.agent_requests import request_parse
from orchestrator_site.web.status_codes import http_status_for

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
envelopes = st.fixed_dictionaries(
    {},
    optional={
        "id": json_values,
        "agent": json_values,
        "action": json_values,
        "data": json_values,
        "params": json_values,
        "timeout_ms": json_values,
        "idempotency_key": json_values,
        "interface": json_values,
    },
)


def _outcome(raw: Any) -> int:
    try:
        request_parse(raw)
    except ProtocolError as exc:
        frame = exc.to_frame(None)
        assert frame["status"] == "error"
        return http_status_for(frame)
    return 200


@hsettings(max_examples=300, deadline=None)
@given(envelopes)
def test_any_envelope_is_accepted_or_refused_with_400(body: dict[str, Any]) -> None:
    assert _outcome(json.dumps(body).encode()) in (200, 400)


@hsettings(max_examples=200, deadline=None)
@given(st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_any_bytes_are_accepted_or_refused_with_400(raw: bytes) -> None:
    assert _outcome(raw) in (200, 400)
