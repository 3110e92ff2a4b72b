"""Serializers: shapes for the schema and for output; no logic."""
from __future__ import annotations

from rest_framework import serializers

from agents.naming.models import Namespace


class AgentRequestSerializer(serializers.Serializer):
    """The wire envelope of an agent request (see the protocol documentation)."""

    id = serializers.CharField(required=False, help_text="Your id; echoed in the response. Assigned when missing.")
    agent = serializers.CharField(help_text="Agent type, e.g. 'naming', or 'orchestrator' for its built-ins.")
    action = serializers.CharField(help_text="Action of that agent, e.g. 'allocate_namespace'.")
    data = serializers.JSONField(required=False, help_text="The action's input (a JSON object). Alias: params.")
    timeout_ms = serializers.IntegerField(required=False, min_value=1)
    idempotency_key = serializers.CharField(required=False, max_length=200)
    interface = serializers.CharField(required=False, max_length=100)


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    details = serializers.JSONField()


class AgentResponseSerializer(serializers.Serializer):
    """The response envelope: success with ``data`` or error with ``error``."""

    id = serializers.CharField()
    status = serializers.ChoiceField(choices=["success", "error"])
    data = serializers.JSONField(required=False)
    error = ErrorBodySerializer(required=False)
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
        fields = ["name", "project", "environment", "sequence", "cid", "description", "interface",
                  "allocated_by", "created_at"]
        read_only_fields = fields
