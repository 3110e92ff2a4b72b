"""The router's HTTP surface, mounted at the site root by orchestrator_site/urls.py."""
from __future__ import annotations

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from llmrouter.api import views

router = SimpleRouter()  # trailing slashes, like the other API resources
router.register("api/providers", views.ProviderViewSet, basename="llm-provider")
router.register("api/budgets", views.BudgetViewSet, basename="llm-budget")
router.register("api/ledger", views.LedgerViewSet, basename="llm-ledger")
router.register("api/route-logs", views.RouteLogViewSet, basename="llm-route-log")

urlpatterns = [
    path("api/route-llm", views.RouteLLMView.as_view(), name="route-llm"),
    path("api/route-llm/<str:decision_id>/usage", views.UsageView.as_view(), name="route-llm-usage"),
    path("", include(router.urls)),
]
