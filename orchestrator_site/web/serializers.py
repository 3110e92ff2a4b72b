"""Serializers: shapes for the schema and for output; no logic."""

from __future__ import annotations

from rest_framework import serializers

from agents.naming.models import Namespace
from orchestrator_common.serializer_fields import PositiveNumberField, RequestIdField


class AgentRequestSerializer(serializers.Serializer):
    """The wire envelope of an agent request (see the protocol documentation)."""

    id = RequestIdField(
        required=False,
        help_text="Your id (string or integer), echoed in the response as given; "
        "one is assigned when missing. Alias: request_id.",
    )
    agent = serializers.CharField(help_text="Agent type, e.g. 'naming', or 'orchestrator' for its built-ins.")
    action = serializers.CharField(help_text="Action of that agent, e.g. 'allocate_namespace'.")
    # A field named like Serializer.data (the wire format's name): the stubs see it as an override.
    data = serializers.DictField(
        required=False,
        allow_null=True,  # type: ignore[assignment]
        help_text="The action's input (a JSON object). Alias: params.",
    )
    timeout_ms = PositiveNumberField(
        required=False, allow_null=True, help_text="Milliseconds; default ORCHESTRATOR_REQUEST_TIMEOUT_MS."
    )
    idempotency_key = serializers.CharField(
        required=False,
        allow_null=True,
        min_length=1,
        max_length=200,
        help_text="A retried request with this key gets the first answer.",
    )
    interface = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=100,
        help_text="Who is calling, for the logs (e.g. 'claude-code').",
    )


class AgentResponseSerializer(serializers.Serializer):
    """The success envelope (errors: the error envelope, with the HTTP status of their code)."""

    id = RequestIdField(help_text="Your id as you sent it, or the one assigned.")
    status = serializers.ChoiceField(choices=["success"])
    data = serializers.JSONField(help_text="The action's answer.")  # type: ignore[assignment]  # as above
    timestamp = serializers.CharField()
    processing_time_ms = serializers.FloatField(required=False)
    transport = serializers.CharField(required=False, help_text="socket or redis: how the agent was reached.")


class LiveInstanceSerializer(serializers.Serializer):
    instance = serializers.CharField()
    state = serializers.CharField()
    inflight = serializers.IntegerField()
    max_inflight = serializers.IntegerField()
    handled = serializers.IntegerField()


class AgentInstanceSerializer(serializers.Serializer):
    instance_id = serializers.CharField()
    pid = serializers.IntegerField(allow_null=True)
    transport = serializers.CharField()
    connected = serializers.BooleanField()
    started_at = serializers.DateTimeField(allow_null=True)
    connected_at = serializers.DateTimeField(allow_null=True)
    disconnected_at = serializers.DateTimeField(allow_null=True)
    last_heartbeat = serializers.DateTimeField(allow_null=True)
    live = LiveInstanceSerializer(allow_null=True, help_text="The orchestrator's view; null when not connected.")


class AgentLiveSerializer(serializers.Serializer):
    ready = serializers.IntegerField()
    inflight = serializers.IntegerField()
    queued = serializers.IntegerField()
    actions = serializers.ListField(child=serializers.CharField())


class AgentSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    enabled = serializers.BooleanField()
    live = AgentLiveSerializer(allow_null=True, help_text="null when the orchestrator is not reachable.")
    instances = AgentInstanceSerializer(many=True)


class NamespaceSerializer(serializers.ModelSerializer):
    class Meta:
        model = Namespace
        fields = [
            "name",
            "project",
            "environment",
            "sequence",
            "cid",
            "description",
            "interface",
            "allocated_by",
            "created_at",
        ]
        read_only_fields = fields
