"""The router's HTTP surface, mounted at the site root by orchestrator_site/urls.py."""

from __future__ import annotations

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from orchestrator_site.web import router_api

router = SimpleRouter()  # trailing slashes, like the other API resources
router.register("api/providers", router_api.ProviderViewSet, basename="llm-provider")
router.register("api/budgets", router_api.BudgetViewSet, basename="llm-budget")
router.register("api/ledger", router_api.LedgerViewSet, basename="llm-ledger")
router.register("api/route-logs", router_api.RouteLogViewSet, basename="llm-route-log")

urlpatterns = [
    path("api/route-llm", router_api.RouteLLMView.as_view(), name="route-llm"),
    path("api/route-llm/<str:decision_id>/usage", router_api.UsageView.as_view(), name="route-llm-usage"),
    path("", include(router.urls)),
]
