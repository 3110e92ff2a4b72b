"""Back-pressure for streamed answers under Daphne: a slow client slows the upstream read.

Daphne's ASGI ``send`` writes into Twisted's transport, which buffers without limit. A streaming
producer registered on the Twisted request is told to pause when the socket's buffer is over its
high-water mark (64 KiB) and to resume once it drains; ``wait()`` blocks the stream pump meanwhile, so
the gateway stops reading from the provider instead of growing memory. Under another server (``send``
is not Daphne's), ``wait()`` returns at once: that server's own ``send`` applies its flow control.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

logger = logging.getLogger(__name__)


class _Producer:
    """Twisted IPushProducer; Twisted calls it on the event loop's thread (asyncio reactor)."""

    def __init__(self) -> None:
        self.resumed = asyncio.Event()
        self.resumed.set()

    def pauseProducing(self) -> None:  # noqa: N802 - Twisted's interface
        self.resumed.clear()

    def resumeProducing(self) -> None:  # noqa: N802
        self.resumed.set()

    def stopProducing(self) -> None:  # noqa: N802 - the connection is gone: never block again
        self.resumed.set()


class FlowControl:
    def __init__(self, send: Any) -> None:
        self._request = None
        self._producer: _Producer | None = None
        # Daphne's send is partial(server.handle_reply, <the Twisted request>); wrappers pass its args on.
        args = getattr(send, "args", ())
        if args and hasattr(args[0], "registerProducer"):
            self._request = args[0]

    def start(self) -> None:
        """Call after the response has started."""
        if self._request is None:
            return
        producer = _Producer()
        try:
            self._request.registerProducer(producer, True)
        except Exception:  # noqa: BLE001 - no flow control is still a correct (buffered) stream
            logger.debug("could not register a producer for back-pressure", exc_info=True)
            return
        self._producer = producer

    async def wait(self) -> None:
        if self._producer is not None and not self._producer.resumed.is_set():
            await self._producer.resumed.wait()

    def stop(self) -> None:
        """Call before the last body message (Twisted finishes the request with no producer registered)."""
        producer, self._producer = self._producer, None
        if producer is not None and self._request is not None and getattr(self._request, "producer", None):
            try:
                self._request.unregisterProducer()
            except Exception:  # noqa: BLE001
                logger.debug("could not unregister the producer", exc_info=True)
