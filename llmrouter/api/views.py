"""REST views: thin (validate, call one service or selector, serialize).

POST /api/route-llm is normally answered by the async fast path in
``llmrouter.api.fast`` (registered in front of Django in asgi.py); this DRF
view serves the same contract for WSGI, tests, the browsable API and when the
fast path is off, through the same validation and service.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents import protocol
from agents.protocol import ProtocolError
from llmrouter import selectors, services, validation
from llmrouter.api import responses
from llmrouter.api.permissions import ReadAuthenticatedWriteStaff, RouteCallerPermission
from llmrouter.api.serializers import (BudgetSerializer, ErrorDoc, LedgerEntrySerializer, ProviderSerializer,
                                       RouteLogSerializer, RouteRequestDoc, RouteResponseDoc, UsageRequestDoc,
                                       UsageResponseDoc)
from llmrouter.models import Budget, LedgerEntry, Provider, RouteLog
from orchestrator_site.web.throttling import ROUTE_LLM_THROTTLES

logger = logging.getLogger(__name__)


def _body(request: Request) -> Any:
    # The raw body through the wire protocol's decoder, so bad JSON gets the
    # protocol's INVALID_JSON body rather than DRF's {"detail": ...}.
    return protocol.decode(request.body or b"")


class RouteLLMView(APIView):
    """Route one LLM call: the seed's request and response, plus the candidate breakdown."""

    permission_classes = [RouteCallerPermission]
    # Per token and per anonymous client (rates: route_llm_user / route_llm_anon).
    throttle_classes = ROUTE_LLM_THROTTLES

    @extend_schema(request=RouteRequestDoc, responses={200: RouteResponseDoc, 400: ErrorDoc, 402: ErrorDoc,
                                                       422: ErrorDoc})
    def post(self, request: Request) -> Response:
        request_id = None
        try:
            payload = _body(request)
            request_id = responses.safe_request_id(payload)
            result = services.route_request(**validation.parse_route_request(payload))
        except ProtocolError as exc:
            status, body = responses.error_body(exc, request_id)
            return Response(body, status=status)
        return Response(responses.route_success(result, request_id))


class UsageView(APIView):
    """Report the real usage of a routed call; settles its reservation once."""

    permission_classes = [RouteCallerPermission]

    @extend_schema(request=UsageRequestDoc, responses={200: UsageResponseDoc, 400: ErrorDoc, 404: ErrorDoc,
                                                       409: ErrorDoc})
    def post(self, request: Request, decision_id: str) -> Response:
        try:
            kwargs = validation.parse_usage(_body(request))
            settlement = services.usage_settle(decision_id=decision_id, **kwargs)
        except ProtocolError as exc:
            status, body = responses.error_body(exc)
            return Response(body, status=status)
        return Response({"status": "success", **settlement.as_response()})


class ProviderViewSet(viewsets.ModelViewSet):
    queryset = Provider.objects.order_by("display_order", "key")
    serializer_class = ProviderSerializer
    permission_classes = [ReadAuthenticatedWriteStaff]
    lookup_field = "key"

    @extend_schema(request=None, responses={200: ProviderSerializer})
    @action(detail=True, methods=["post"], url_path="reset-breaker")
    def reset_breaker(self, request: Request, key: str) -> Response:
        """Close the gateway's circuit breaker of this provider (staff)."""
        provider = self.get_object()
        services.provider_reset_breaker(key=provider.key)
        provider.refresh_from_db()
        return Response(self.get_serializer(provider).data)


class BudgetViewSet(viewsets.ModelViewSet):
    queryset = Budget.objects.order_by("pk")
    serializer_class = BudgetSerializer
    permission_classes = [ReadAuthenticatedWriteStaff]

    @extend_schema(responses={200: {"type": "array", "items": {"type": "object"}}})
    @action(detail=False, methods=["get"])
    def status(self, request: Request) -> Response:
        """Spend, remaining money and utilisation of every active budget's current window."""
        return Response(selectors.budgets_status())


def _time_param(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    value = parse_datetime(raw)
    if value is None or value.tzinfo is None:
        raise ValidationError({name: "an ISO-8601 time with a zone, e.g. 2026-01-31T00:00:00Z"})
    return value


class _TimeFiltered(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Read-only, paginated, filterable by ``since``/``until`` (ISO times) and exact fields."""

    permission_classes = [ReadAuthenticatedWriteStaff]
    time_field = "created_at"
    exact_filters: dict[str, str] = {}

    def get_queryset(self):
        qs = super().get_queryset()
        since, until = _time_param(self.request, "since"), _time_param(self.request, "until")
        if since:
            qs = qs.filter(**{f"{self.time_field}__gte": since})
        if until:
            qs = qs.filter(**{f"{self.time_field}__lt": until})
        for param, field in self.exact_filters.items():
            value = self.request.query_params.get(param)
            if value:
                qs = qs.filter(**{field: value})
        return qs


class LedgerViewSet(_TimeFiltered):
    queryset = LedgerEntry.objects.select_related("route").order_by("-created_at", "-id")
    serializer_class = LedgerEntrySerializer
    exact_filters = {"provider": "provider_key", "kind": "kind", "decision_id": "route__decision_id"}


class RouteLogViewSet(_TimeFiltered):
    queryset = RouteLog.objects.select_related("attempt_record").order_by("-created_at", "-id")
    serializer_class = RouteLogSerializer
    lookup_field = "decision_id"
    exact_filters = {"provider": "provider_key", "interface": "interface", "outcome": "outcome",
                     "task_type": "task_type", "request_id": "request_id"}
