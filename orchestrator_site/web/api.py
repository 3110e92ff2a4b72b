"""REST views: POST /api/request (session and browsable path), agents, namespaces.

POST /api/request is normally answered by ``fast_request`` before Django;
this view serves callers with a session (it needs the CSRF check) and the
browsable API, through the same ``agent_requests.request_answer``.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.http import Http404
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents.naming.models import Namespace
from orchestrator_site.web import selectors
from orchestrator_site.web.agent_requests import request_answer
from orchestrator_site.web.envelope_responses import envelope_response
from orchestrator_site.web.filters import filter_list, filter_parameters
from orchestrator_site.web.gateway import gateway
from orchestrator_site.web.principals import Principal, client_ip_of_request
from orchestrator_site.web.schema import ErrorEnvelopeSerializer
from orchestrator_site.web.serializers import (
    AgentRequestSerializer,
    AgentResponseSerializer,
    AgentSerializer,
    NamespaceSerializer,
)

_ERRORS = {
    status: ErrorEnvelopeSerializer for status in (400, 401, 402, 403, 404, 409, 413, 422, 429, 500, 502, 503, 504)
}
_REQUEST_EXAMPLES = [
    OpenApiExample(
        "allocate a namespace",
        request_only=True,
        value={
            "id": "req-1",
            "agent": "naming",
            "action": "allocate_namespace",
            "data": {"project": "centerfire", "environment": "test"},
        },
    ),
    OpenApiExample("orchestrator status", request_only=True, value={"agent": "orchestrator", "action": "status"}),
]


async def _given(body: bytes) -> bytes:
    return body  # Django has read the whole body already


class AgentRequestView(APIView):
    """Send one request to an agent and get its response envelope back.

    The body is the wire protocol's request envelope; the answer is the agent's
    response envelope with the caller's id. The HTTP status follows the error
    code: 400 bad input, 401/403 auth, 404 unknown agent or action, 409
    collision, 413 body too large, 429 rate limit, 503 agent unavailable, 504
    timeout. Anonymous callers are refused unless API_REQUEST_ANONYMOUS is on.
    """

    # Admission (anonymous policy, rate limit) is request_admit's job, the
    # same function and counters the fast path and the WebSocket use.
    permission_classes = [AllowAny]
    throttle_classes: list[Any] = []
    # The body is read raw and decoded by the wire protocol: JSON whatever the Content-Type says.
    parser_classes = [JSONParser]

    def anonymous_allowed(self) -> bool:
        return bool(settings.WEB["REQUEST_ANONYMOUS"])

    @extend_schema(
        operation_id="agent_request",
        request=AgentRequestSerializer,
        responses={200: AgentResponseSerializer, **_ERRORS},
        examples=_REQUEST_EXAMPLES,
    )
    def post(self, request: Request) -> Response:
        principal = Principal.from_user(request.user, self.get_client_ip(request))
        frame = async_to_sync(request_answer)(principal=principal, read_body=partial(_given, request.body))
        return envelope_response(frame)

    def get_client_ip(self, request: Request) -> str:
        return client_ip_of_request(request)


def _live_types() -> dict[str, Any] | None:
    frame = async_to_sync(gateway.request)("orchestrator", "status", None, timeout_ms=3000)
    if frame.get("status") != "success":
        return None
    return (frame.get("data") or {}).get("types", {})


class AgentViewSet(viewsets.ViewSet):
    """Agent types from the registry joined with the orchestrator's live view."""

    lookup_field = "name"
    lookup_value_regex = r"[-a-zA-Z0-9_]+"

    @extend_schema(responses=AgentSerializer(many=True))
    def list(self, request: Request) -> Response:
        return Response(selectors.agents_list(live_types=_live_types()))

    @extend_schema(responses=AgentSerializer)
    def retrieve(self, request: Request, name: str) -> Response:
        row = selectors.agent_get(name=name, live_types=_live_types())
        if row is None:
            raise Http404
        return Response(row)


_NAMESPACE_FILTERS = {"project": "project", "environment": "environment"}


@extend_schema_view(list=extend_schema(parameters=filter_parameters(what="Allocated", exact=_NAMESPACE_FILTERS)))
class NamespaceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Namespaces the naming agent allocated (read-only; allocate through POST /api/request)."""

    serializer_class = NamespaceSerializer
    lookup_field = "name"
    lookup_value_regex = r"[^/]+"

    def get_queryset(self) -> Any:
        return filter_list(
            Namespace.objects.order_by("-created_at", "-id"),
            self.request,
            time_field="created_at",
            exact=_NAMESPACE_FILTERS,
        )
