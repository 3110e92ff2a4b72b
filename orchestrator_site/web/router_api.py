"""The router's REST views: thin (admit, validate, call one service or selector, serialize).

POST /api/route-llm is normally answered by the async fast path in
``fast_route`` (registered in front of Django in asgi.py); this DRF view serves
the same contract for callers with a session (they need the CSRF check), tests,
the browsable API and when the fast path is off, through the same admission
(``admission.route_llm_admit``), validation, service and answers.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agents import protocol
from agents.protocol import ProtocolError
from llmrouter import conf, selectors, services, validation
from llmrouter.models import Budget, LedgerEntry, Provider, RouteLog
from llmrouter.serializers import (
    BudgetSerializer,
    LedgerEntrySerializer,
    ProviderSerializer,
    RouteLogSerializer,
    RouteRequestDoc,
    RouteResponseDoc,
    UsageRequestDoc,
    UsageResponseDoc,
)
from orchestrator_site.web.admission import route_caller_refusal, route_llm_admit
from orchestrator_site.web.envelope_responses import envelope_response
from orchestrator_site.web.filters import filter_list, filter_parameters
from orchestrator_site.web.permissions import ReadAuthenticatedWriteStaff
from orchestrator_site.web.principals import Principal, client_ip_of_request
from orchestrator_site.web.route_answers import caller_request_id, route_success
from orchestrator_site.web.schema import ErrorEnvelopeSerializer


def _body(request: Request) -> Any:
    # The raw body through the wire protocol's decoder, so bad JSON gets the
    # protocol's INVALID_JSON body rather than DRF's {"detail": ...}.
    return protocol.decode(request.body or b"")


_ROUTE_EXAMPLE = OpenApiExample(
    "the design's worked example",
    request_only=True,
    value={
        "token_count": 5000,
        "task_type": "coding",
        "priority": "high",
        "max_latency": 3000,
        "interface": "claude-code",
        "id": "job-1",
    },
)
_USAGE_EXAMPLE = OpenApiExample(
    "usage report", request_only=True, value={"prompt_tokens": 4000, "completion_tokens": 1000}
)


class _RouterView(APIView):
    # Admission (the anonymous policy, the rate limit) is admission.py's, the same functions the fast path uses.
    permission_classes = [AllowAny]
    throttle_classes: list[Any] = []
    # The body is read raw and decoded by the wire protocol: JSON whatever the Content-Type says.
    parser_classes = [JSONParser]

    def anonymous_allowed(self) -> bool:
        return bool(conf.get("ROUTE_ALLOW_ANONYMOUS"))

    def principal(self, request: Request) -> Principal:
        return Principal.from_user(request.user, client_ip_of_request(request))


class RouteLLMView(_RouterView):
    """Route one LLM call: the seed's request and response, plus the candidate breakdown.

    Anonymous callers are welcome unless LLMROUTER_ROUTE_ALLOW_ANONYMOUS is off
    (rate limits per token and per client address). The estimated cost is
    reserved against the budget until usage is reported.
    """

    @extend_schema(
        request=RouteRequestDoc,
        examples=[_ROUTE_EXAMPLE],
        responses={
            200: RouteResponseDoc,
            402: ErrorEnvelopeSerializer,
            413: ErrorEnvelopeSerializer,
            422: ErrorEnvelopeSerializer,
            429: ErrorEnvelopeSerializer,
        },
    )
    def post(self, request: Request) -> Response:
        principal = self.principal(request)
        refusal = async_to_sync(route_llm_admit)(principal=principal)
        if refusal is not None:
            return envelope_response(refusal.to_frame(None))
        request_id = None
        try:
            payload = _body(request)
            request_id = caller_request_id(payload)
            result = services.route_request(
                **validation.parse_route_request(payload), anonymous=not principal.is_authenticated
            )
        except ProtocolError as exc:
            return envelope_response(exc.to_frame(request_id))
        return envelope_response(route_success(result, request_id))


class UsageView(_RouterView):
    """Report the real usage of a routed call; settles its reservation once (a repeat answers already_settled)."""

    @extend_schema(
        request=UsageRequestDoc,
        examples=[_USAGE_EXAMPLE],
        responses={200: UsageResponseDoc, 409: ErrorEnvelopeSerializer, 413: ErrorEnvelopeSerializer},
    )
    def post(self, request: Request, decision_id: str) -> Response:
        refusal = route_caller_refusal(self.principal(request))
        if refusal is not None:
            return envelope_response(refusal.to_frame(None))
        try:
            kwargs = validation.parse_usage(_body(request))
            settlement = services.usage_settle(decision_id=decision_id, **kwargs)  # type: ignore[arg-type]  # counts
        except ProtocolError as exc:
            return envelope_response(exc.to_frame(None))
        return Response({"status": "success", **settlement.as_response()})


class ProviderViewSet(viewsets.ModelViewSet):
    """LLM providers the router chooses from: reads for any token, writes for staff."""

    queryset = Provider.objects.order_by("display_order", "key")
    serializer_class = ProviderSerializer
    permission_classes = [ReadAuthenticatedWriteStaff]
    lookup_field = "key"

    @extend_schema(request=None, responses={200: ProviderSerializer})
    @action(detail=True, methods=["post"], url_path="reset-breaker")
    def reset_breaker(self, request: Request, key: str) -> Response:
        """Close the gateway's circuit breaker of this provider (staff)."""
        from llmgateway import events

        provider = self.get_object()
        events.reset_breaker(provider.key, by=f"reset-breaker, {request.user.get_username()}")
        provider.refresh_from_db()
        return Response(self.get_serializer(provider).data)


class BudgetViewSet(viewsets.ModelViewSet):
    """Budgets (amount per calendar window in a timezone): reads for any token, writes for staff."""

    queryset = Budget.objects.order_by("pk")
    serializer_class = BudgetSerializer
    permission_classes = [ReadAuthenticatedWriteStaff]

    @extend_schema(responses={200: {"type": "array", "items": {"type": "object"}}})
    @action(detail=False, methods=["get"])
    def status(self, request: Request) -> Response:
        """Spend, remaining money and utilisation of every active budget's current window."""
        return Response(selectors.budgets_status())


class _TimeFiltered(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    permission_classes = [ReadAuthenticatedWriteStaff]
    exact_filters: dict[str, str] = {}

    def get_queryset(self):
        return filter_list(super().get_queryset(), self.request, time_field="created_at", exact=self.exact_filters)


_LEDGER_FILTERS = {"provider": "provider_key", "kind": "kind", "decision_id": "route__decision_id"}
_ROUTE_LOG_FILTERS = {
    "provider": "provider_key",
    "interface": "interface",
    "outcome": "outcome",
    "task_type": "task_type",
    "request_id": "request_id",
}


@extend_schema_view(list=extend_schema(parameters=filter_parameters(what="Booked", exact=_LEDGER_FILTERS)))
class LedgerViewSet(_TimeFiltered):
    """The append-only money ledger (reservations, settlements), newest first; amounts in dollars and nano-dollars."""

    queryset = LedgerEntry.objects.select_related("route").order_by("-created_at", "-id")
    serializer_class = LedgerEntrySerializer
    exact_filters = _LEDGER_FILTERS


@extend_schema_view(list=extend_schema(parameters=filter_parameters(what="Routed", exact=_ROUTE_LOG_FILTERS)))
class RouteLogViewSet(_TimeFiltered):
    """Every routing decision with its candidates' factors, newest first."""

    queryset = RouteLog.objects.select_related("attempt_record").order_by("-created_at", "-id")
    serializer_class = RouteLogSerializer
    lookup_field = "decision_id"
    exact_filters = _ROUTE_LOG_FILTERS
