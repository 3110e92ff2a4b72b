"""The /v1/ endpoints in the OpenAPI schema (/api/schema/).

They are ASGI handlers, not Django views, so drf-spectacular cannot see them: this post-processing hook
adds them as they really behave (the request fields the gateway reads, its statuses and error shape).
"""

from __future__ import annotations

from typing import Any

from llmgateway.chat import CONTENT_REQUIRED, MAX_TOKENS_LIMIT, ROLES

_ERROR = {"$ref": "#/components/schemas/GatewayError"}
_HEADERS = {
    name: {"schema": {"type": "string"}, "description": text}
    for name, text in (
        ("x-route-decision-id", "The routing decision that served the call (or the last one tried)."),
        ("x-route-provider", "The provider key that served the call (or the last one tried)."),
        ("x-route-request-id", "The first decision's id: every attempt of this request has it as request_id."),
        ("x-route-attempts", "How many providers were tried."),
        ("x-route-cost", "The settled cost in dollars (non-streamed calls)."),
    )
}

_CONTENT: dict[str, Any] = {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}]}

_SCHEMAS: dict[str, Any] = {
    "GatewayError": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["message", "type", "code", "param"],
                "properties": {
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                    "code": {"type": "string", "nullable": True},
                    "param": {"type": "string", "nullable": True},
                    "details": {"type": "object", "additionalProperties": True},
                },
            }
        },
    },
    # Two shapes, by role, as parse_chat_request checks them: only an assistant (or the old function) message may
    # go without content.
    "ChatMessage": {
        "oneOf": [
            {
                "type": "object",
                "required": ["role", "content"],
                "additionalProperties": True,
                "properties": {
                    "role": {"type": "string", "enum": sorted(CONTENT_REQUIRED)},
                    "content": _CONTENT,
                    "name": {"type": "string"},
                },
            },
            {
                "type": "object",
                "required": ["role"],
                "additionalProperties": True,
                "properties": {
                    "role": {"type": "string", "enum": sorted(ROLES - CONTENT_REQUIRED)},
                    "content": {**_CONTENT, "nullable": True},
                    "name": {"type": "string"},
                },
            },
        ]
    },
    "RouteHints": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "task_type": {"type": "string", "maxLength": 50},
            "priority": {"type": "string", "enum": ["high", "medium", "low"]},
            "max_latency": {"type": "number", "minimum": 0},
            "interface": {"type": "string", "maxLength": 100},
        },
    },
    "ChatCompletionRequest": {
        "type": "object",
        "required": ["model", "messages"],
        "additionalProperties": True,
        "properties": {
            "model": {"type": "string", "minLength": 1, "description": '"auto" or a provider key (GET /v1/models)'},
            "messages": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/ChatMessage"}},
            "stream": {"type": "boolean"},
            "stream_options": {"type": "object", "properties": {"include_usage": {"type": "boolean"}}},
            "max_tokens": {"type": "integer", "minimum": 1, "maximum": MAX_TOKENS_LIMIT},
            "max_completion_tokens": {"type": "integer", "minimum": 1, "maximum": MAX_TOKENS_LIMIT},
            "n": {"type": "integer", "enum": [1]},
            "route": {"$ref": "#/components/schemas/RouteHints"},
        },
    },
    "ChatCompletion": {
        "type": "object",
        "required": ["choices"],
        "additionalProperties": True,
        "properties": {
            "id": {"type": "string"},
            "object": {"type": "string"},
            "created": {"type": "integer"},
            "model": {"type": "string"},
            "choices": {"type": "array", "items": {"type": "object"}},
            "usage": {"type": "object", "additionalProperties": True},
        },
    },
    "Model": {
        "type": "object",
        "required": ["id", "object"],
        "properties": {
            "id": {"type": "string"},
            "object": {"type": "string"},
            "created": {"type": "integer"},
            "owned_by": {"type": "string"},
        },
        "additionalProperties": True,
    },
    "ModelList": {
        "type": "object",
        "required": ["object", "data"],
        "properties": {
            "object": {"type": "string", "enum": ["list"]},
            "data": {"type": "array", "items": {"$ref": "#/components/schemas/Model"}},
        },
    },
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR}}}


def _paths() -> dict[str, Any]:
    security: list[dict[str, list[str]]] = [{"gatewayBearer": []}, {"tokenAuth": []}]
    chat_errors = {
        "400": _error(
            "Invalid request (bad JSON, not UTF-8, no messages, unknown route field, "
            "max_tokens no context window holds); nothing reserved or logged"
        ),
        "401": _error("No token or a bad one (the gateway is never anonymous)"),
        "402": _error("No provider fits the remaining budget"),
        "404": _error("Unknown model"),
        "405": _error("Wrong method"),
        "413": _error("Body over the limit"),
        "422": _error("No suitable provider (capability, context, credentials, circuit breaker...)"),
        "429": _error("Rate limited (this gateway, or every provider tried)"),
        "500": _error("Internal error"),
        "502": _error("Every provider tried failed"),
        "504": _error("The last provider tried timed out before its first byte"),
    }
    return {
        "/v1/chat/completions": {
            "post": {
                "operationId": "v1_chat_completions",
                "tags": ["gateway"],
                "security": security,
                "summary": "OpenAI-compatible chat completion, routed, forwarded, failed over and settled",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ChatCompletionRequest"}}},
                },
                "responses": {
                    "200": {
                        "description": "The answer; with stream: true, Server-Sent Events ending in "
                        "data: [DONE] (or an error event if the stream broke)",
                        "headers": _HEADERS,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/ChatCompletion"}},
                            "text/event-stream": {"schema": {"type": "string"}},
                        },
                    },
                    **chat_errors,
                },
            }
        },
        "/v1/models": {
            "get": {
                "operationId": "v1_models",
                "tags": ["gateway"],
                "security": security,
                "summary": "auto and every enabled provider",
                "responses": {
                    "200": {
                        "description": "The models",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ModelList"}}},
                    },
                    "401": chat_errors["401"],
                    "405": chat_errors["405"],
                    "429": chat_errors["429"],
                },
            }
        },
        "/v1/models/{model}": {
            "get": {
                "operationId": "v1_model",
                "tags": ["gateway"],
                "security": security,
                "summary": "One entry of GET /v1/models (OpenAI's models.retrieve)",
                "parameters": [
                    {"name": "model", "in": "path", "required": True, "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": {
                        "description": "The model",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Model"}}},
                    },
                    "401": chat_errors["401"],
                    "404": _error("Neither auto nor an enabled provider's key"),
                    "405": chat_errors["405"],
                    "429": chat_errors["429"],
                },
            }
        },
    }


def add_gateway_paths(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular POSTPROCESSING_HOOKS entry."""
    result.setdefault("paths", {}).update(_paths())
    components = result.setdefault("components", {})
    components.setdefault("schemas", {}).update(_SCHEMAS)
    components.setdefault("securitySchemes", {})["gatewayBearer"] = {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token, sent as the OpenAI clients send api_key",
    }
    return result
