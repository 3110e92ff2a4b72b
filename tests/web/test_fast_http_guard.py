"""The one guard every fast path runs in (orchestrator_site/fast_http.py): a handler's failure before its
answer started is a 500 in the route's own error shape; after, nothing more is sent and nothing escapes."""

from __future__ import annotations

from functools import partial
from typing import Any

import orjson
import pytest
from asgiref.sync import async_to_sync

from orchestrator_site.fast_http import FastHttpDispatcher

SCOPE = {"type": "http", "method": "POST", "path": "/x", "headers": []}


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


def serve(dispatcher: FastHttpDispatcher, send: Any = None) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def collect(message: dict[str, Any]) -> None:
        sent.append(message)

    async_to_sync(dispatcher)(dict(SCOPE), _receive, send or collect)
    return sent


async def _fails_at_once(scope: Any, receive: Any, send: Any) -> None:
    raise RuntimeError("a bug")


async def _fails_midway(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    raise RuntimeError("a bug after the start")


def _dispatcher(handler: Any, **kwargs: Any) -> FastHttpDispatcher:
    dispatcher = FastHttpDispatcher(fallback=None)  # type: ignore[arg-type]
    dispatcher.register("/x", handler, **kwargs)
    return dispatcher


def test_a_failure_before_the_answer_is_a_500_wire_envelope_by_default(caplog: pytest.LogCaptureFixture) -> None:
    start, body = serve(_dispatcher(_fails_at_once))
    assert start["status"] == 500
    frame = orjson.loads(body["body"])
    assert frame["status"] == "error" and frame["error"]["code"] == "INTERNAL_ERROR"
    assert "a bug" not in body["body"].decode()  # the log has it, the client does not
    assert any("fast path /x failed" in r.getMessage() for r in caplog.records)


def test_a_route_answers_its_failures_with_its_own_body() -> None:
    start, body = serve(_dispatcher(_fails_at_once, error_body=lambda: {"error": {"type": "server_error"}}))
    assert start["status"] == 500 and orjson.loads(body["body"]) == {"error": {"type": "server_error"}}


def test_a_failure_after_the_start_sends_nothing_more_and_does_not_escape() -> None:
    sent = serve(_dispatcher(_fails_midway))
    assert [m["type"] for m in sent] == ["http.response.start"]


class _TwistedRequest:
    """Stands for the Twisted request Daphne's send carries: what the gateway's FlowControl looks for."""

    def registerProducer(self, producer: Any, streaming: bool) -> None:  # noqa: N802 - Twisted's name
        self.producer = producer


def test_the_handler_still_sees_the_servers_send_args_for_back_pressure() -> None:
    from llmgateway.backpressure import FlowControl

    request = _TwistedRequest()
    seen: dict[str, Any] = {}

    async def handler(scope: Any, receive: Any, send: Any) -> None:
        seen["args"] = send.args
        seen["flow_request"] = FlowControl(send)._request
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    sent: list[dict[str, Any]] = []

    async def handle_reply(twisted_request: Any, message: dict[str, Any]) -> None:
        sent.append(message)

    serve(_dispatcher(handler), send=partial(handle_reply, request))  # Daphne's shape of send
    assert seen == {"args": (request,), "flow_request": request}
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
