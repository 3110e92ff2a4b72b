"""The /v1/ endpoints are in the OpenAPI schema, as they behave."""

from __future__ import annotations

import pytest


@pytest.mark.django_db
def test_the_schema_lists_the_gateway_endpoints_with_their_errors(client):
    schema = client.get("/api/schema/?format=json").json()
    chat = schema["paths"]["/v1/chat/completions"]["post"]
    assert {"200", "400", "401", "402", "404", "413", "422", "429", "502", "504"} <= set(chat["responses"])
    assert "x-route-decision-id" in chat["responses"]["200"]["headers"]
    body = schema["components"]["schemas"]["ChatCompletionRequest"]
    assert body["required"] == ["model", "messages"]
    assert schema["components"]["schemas"]["RouteHints"]["additionalProperties"] is False
    assert "200" in schema["paths"]["/v1/models"]["get"]["responses"]
    assert schema["components"]["securitySchemes"]["gatewayBearer"]["scheme"] == "bearer"
