"""Gateway events (the circuit breaker's moves) to WebSocket subscribers, through the channel layer group
the orchestrator's events are relayed to (so they arrive exactly like ``provider_health_changed``)."""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from agents import protocol
from orchestrator_site.web.events import EVENTS_GROUP, MESSAGE_TYPE, event_id

logger = logging.getLogger(__name__)


async def publish(events: list[dict[str, Any]]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    for fields in events:
        frame = {"type": "event", "timestamp": protocol.utc_timestamp(), **fields}
        logger.warning("%s: %s is now %s", fields.get("event"), fields.get("provider"), fields.get("breaker"))
        try:
            await layer.group_send(EVENTS_GROUP, {"type": MESSAGE_TYPE, "event_id": event_id(frame), "frame": frame})
        except Exception:  # noqa: BLE001 - an unreachable layer must not fail the call that moved the breaker
            logger.exception("could not publish %s", fields.get("event"))


def reset_breaker(key: str, *, by: str) -> bool:
    """An operator closes a provider's breaker (the REST API's reset-breaker, the admin's action); False: no
    such provider. Subscribers were told it opened, so they hear it close, as after a probe, or a page built
    on the events would keep showing it open. Sync: for views and admin actions."""
    from llmrouter import breaker, services
    from llmrouter.models import Provider
    from llmrouter.settlement import breaker_event

    previous = services.provider_reset_breaker(key=key)
    if previous is None:
        return False
    if previous != breaker.CLOSED:
        provider = Provider.objects.get(key=key)
        async_to_sync(publish)([breaker_event(provider, previous, f"closed by hand ({by})")])
    return True
