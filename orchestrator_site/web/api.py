"""REST views: POST /api/request (session and browsable path), agents, namespaces.

POST /api/request is normally answered by ``fast_request`` before Django;
this view serves callers with a session (it needs the CSRF check) and the
browsable API, through the same ``agent_requests`` functions.
"""
from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from django.http import Http404
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, mixins, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents import protocol
from agents.naming.models import Namespace
from agents.protocol import ErrorCode
from orchestrator_site.web import selectors
from orchestrator_site.web.agent_requests import request_admit, request_execute, request_record
from orchestrator_site.web.gateway import gateway
from orchestrator_site.web.principals import Principal, client_ip_of_request
from orchestrator_site.web.serializers import (AgentRequestSerializer, AgentResponseSerializer, AgentSerializer,
                                               NamespaceSerializer)
from orchestrator_site.web.status_codes import http_status_for

_ENVELOPE = OpenApiResponse(AgentResponseSerializer)


def envelope_response(frame: dict[str, Any]) -> Response:
    status = http_status_for(frame)
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Token realm="api"'
    elif status == 429:
        wait = (frame.get("error") or {}).get("details", {}).get("retry_after_s", 1)
        headers["Retry-After"] = str(max(1, int(wait + 0.999)))
    return Response(frame, status=status, headers=headers)


async def _request_flow(body: bytes, principal: Principal) -> dict[str, Any]:
    import time

    started = time.perf_counter()
    refusal = await request_admit(principal=principal)
    if refusal is not None:
        frame = refusal.to_frame(None)
        request_record(agent=None, action=None, transport="http", frame=frame, started=started)
        return frame
    return await request_execute(raw=body, principal=principal, transport="http", started=started)


class AgentRequestView(APIView):
    """Send one request to an agent and get its response envelope back."""

    # Admission (anonymous policy, rate limit) is request_admit's job, the
    # same function and counters the fast path and the WebSocket use.
    permission_classes = [AllowAny]
    throttle_classes: list[Any] = []

    @extend_schema(
        operation_id="agent_request",
        request=AgentRequestSerializer,
        responses={200: _ENVELOPE, 400: _ENVELOPE, 401: _ENVELOPE, 403: _ENVELOPE, 404: _ENVELOPE,
                   409: _ENVELOPE, 413: _ENVELOPE, 429: _ENVELOPE, 503: _ENVELOPE, 504: _ENVELOPE},
        description=("The wire envelope over HTTP, forwarded through the orchestrator. The HTTP status follows "
                     "the error code: 400 bad input, 401/403 auth, 404 unknown agent or action, 409 collision, "
                     "429 rate limit, 503 agent unavailable, 504 timeout."),
    )
    def post(self, request: Request) -> Response:
        principal = Principal.from_user(request.user, self.get_client_ip(request))
        frame = async_to_sync(_request_flow)(request.body, principal)
        return envelope_response(frame)

    def get_client_ip(self, request: Request) -> str:
        return client_ip_of_request(request)

    def handle_exception(self, exc: Exception) -> Response:
        # Keep the envelope for auth failures too (bad token, missing CSRF token).
        if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
            return envelope_response(protocol.error(None, ErrorCode.UNAUTHORIZED, str(exc.detail)))
        if isinstance(exc, exceptions.PermissionDenied):
            return envelope_response(protocol.error(None, ErrorCode.FORBIDDEN, str(exc.detail)))
        return super().handle_exception(exc)


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


def _time_param(request: Request, name: str) -> Any:
    raw = request.query_params.get(name)
    if not raw:
        return None
    value = parse_datetime(raw)
    if value is None or value.tzinfo is None:
        raise ValidationError({name: "an ISO-8601 time with a zone, e.g. 2026-01-31T00:00:00Z"})
    return value


@extend_schema(parameters=[
    OpenApiParameter("project", OpenApiTypes.STR, description="Exact project"),
    OpenApiParameter("environment", OpenApiTypes.STR, description="Exact environment"),
    OpenApiParameter("since", OpenApiTypes.DATETIME, description="Allocated at or after"),
    OpenApiParameter("until", OpenApiTypes.DATETIME, description="Allocated before"),
])
class NamespaceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Namespaces the naming agent allocated (read-only; allocate through POST /api/request)."""

    serializer_class = NamespaceSerializer
    lookup_field = "name"
    lookup_value_regex = r"[^/]+"

    def get_queryset(self) -> Any:
        qs = Namespace.objects.order_by("-created_at", "-id")
        for param in ("project", "environment"):
            value = self.request.query_params.get(param)
            if value:
                qs = qs.filter(**{param: value})
        since, until = _time_param(self.request, "since"), _time_param(self.request, "until")
        if since:
            qs = qs.filter(created_at__gte=since)
        if until:
            qs = qs.filter(created_at__lt=until)
        return qs
