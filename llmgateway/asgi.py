"""The ASGI handlers of /v1/ (chat completions, the models), on the fast path in front of Django.

No Django middleware: token auth (the same tokens and cache as the REST API; anonymous callers get 401
here whatever the router's decision-only setting says, because this spends money), the route_llm rate
limit, a bounded body, then ``proxy.serve``. The database is reached only through the router's
batched thread (``ledger``); nothing here blocks the event loop.
"""

from __future__ import annotations

from typing import Any

import orjson

from agents.protocol import ErrorCode, ProtocolError
from llmgateway import chat as chat_request
from llmgateway import conf, proxy
from llmgateway.errors import GatewayError, from_protocol
from llmgateway.response import send_error, send_json_bytes
from llmrouter.dbthread import batched
from llmrouter.models import AUTO
from orchestrator_site.fast_http import BodyTooLarge, FastHttpDispatcher, read_body
from orchestrator_site.web.admission import principal_from_scope, rate_limit
from orchestrator_site.web.principals import AuthenticationFailed

PREFIX = "/v1/"
CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"
MODEL_PREFIX = MODELS_PATH + "/"  # GET /v1/models/<id>: OpenAI's models.retrieve


async def admit(scope: dict[str, Any]) -> GatewayError | None:
    """None to go ahead; else 401 (no or bad token: /v1/ is never anonymous) or 429."""
    try:
        principal = await principal_from_scope(scope)
    except AuthenticationFailed as exc:
        return from_protocol(ProtocolError(ErrorCode.UNAUTHORIZED, str(exc)))
    if not principal.is_authenticated:
        return from_protocol(
            ProtocolError(
                ErrorCode.UNAUTHORIZED,
                ("The gateway needs an API token: Authorization: Bearer <token> (the OpenAI clients' api_key)"),
            )
        )
    refusal = await rate_limit(principal=principal, user_scope="route_llm_user", anon_scope="route_llm_anon")
    return from_protocol(refusal) if refusal is not None else None


def _internal_error() -> dict[str, Any]:
    """The 500 body of an unexpected failure (the dispatcher's guard answers it): OpenAI's shape."""
    return GatewayError(500, "Internal error; see the server log", type="server_error", code="internal_error").body()


async def _refused(scope: dict[str, Any], send: Any, method: str) -> bool:
    """True when the request is answered already: another method (405 with Allow), or not admitted (401, 429)."""
    if scope["method"] != method:
        await send_error(
            send, GatewayError(405, f"Use {method}", code="method_not_allowed"), headers=[(b"allow", method.encode())]
        )
        return True
    refusal = await admit(scope)
    if refusal is not None:
        await send_error(send, refusal)
        return True
    return False


async def chat_completions(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if await _refused(scope, send, "POST"):
        return
    limit = int(conf.get("MAX_BODY_BYTES"))
    try:
        raw = await read_body(receive, max_bytes=limit)
        chat = chat_request.parse_chat_request(raw)
    except BodyTooLarge:
        await send_error(send, GatewayError(413, f"The body is larger than {limit} bytes", code="request_too_large"))
        return
    except GatewayError as error:
        await send_error(send, error)
        return
    except ConnectionResetError:
        return  # the client left before sending its body
    await proxy.serve(chat, receive, send)


def _models_batch(requests: list[None]) -> list[list[dict[str, Any]]]:
    """On the router's database thread: one read of the list answers every /v1/models request queued."""
    data = _models()
    return [data] * len(requests)


def _models() -> list[dict[str, Any]]:
    from llmrouter.models import Provider

    rows = Provider.objects.filter(enabled=True).order_by("display_order", "key")
    data = [
        {
            "id": AUTO,
            "object": "model",
            "created": 0,
            "owned_by": "router",
            "description": "The router picks the provider (the seed's formula)",
        }
    ]
    for p in rows:
        data.append(
            {
                "id": p.key,
                "object": "model",
                "created": int(p.created_at.timestamp()),
                "owned_by": p.api_format,
                "name": p.name,
                "context_window": p.context_window,
                "upstream_model": p.upstream_model or p.key,
                "ready": bool(p.api_base) and p.api_key_set,
                "breaker": p.breaker_state,
            }
        )
    return data


async def models(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if await _refused(scope, send, "GET"):
        return
    data = await batched(None, _models_batch)
    await send_json_bytes(send, 200, orjson.dumps({"object": "list", "data": data}))


async def other_path(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Every other path under /v1/: one model (GET /v1/models/<id>), else a 404 in OpenAI's shape, so an
    OpenAI client says what is wrong instead of failing on Django's HTML page."""
    path = scope["path"]
    model_id = path[len(MODEL_PREFIX) :] if path.startswith(MODEL_PREFIX) else ""
    if model_id and "/" not in model_id:
        if await _refused(scope, send, "GET"):
            return
        data = await batched(None, _models_batch)
        found = next((m for m in data if m["id"] == model_id), None)
        if found is None:
            error = GatewayError(
                404,
                f"The model {model_id!r} does not exist; GET /v1/models lists them",
                code="model_not_found",
                param="model",
            )
            await send_error(send, error)
            return
        await send_json_bytes(send, 200, orjson.dumps(found))
        return
    message = f"Unknown path {scope['method']} {path}: this gateway serves POST {CHAT_PATH} and GET {MODELS_PATH}"
    await send_error(send, GatewayError(404, message, code="unknown_url"))


def register_fast_paths(dispatcher: FastHttpDispatcher) -> None:
    """/v1/ is served here only (Django has no such URLs): every method, so a wrong one gets an OpenAI error,
    and every path, so an unknown one does too."""
    dispatcher.register(CHAT_PATH, chat_completions, methods=None, error_body=_internal_error)
    dispatcher.register(MODELS_PATH, models, methods=None, error_body=_internal_error)
    dispatcher.register_prefix(PREFIX, other_path, error_body=_internal_error)
