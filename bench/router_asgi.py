"""The site's ASGI application plus a trivial endpoint, for bench_router.py.

POST /bench/noop answers {"ok": true} through the same fast-path dispatcher
as /api/route-llm, so the benchmark can show the floor (Daphne, the ASGI hop,
orjson) beside the real endpoint in the same server and the same run.
"""

from __future__ import annotations

from orchestrator_site.asgi import application, http_app  # noqa: F401  (re-exported for Daphne)
from orchestrator_site.fast_http import read_body, send_json


async def noop(scope, receive, send) -> None:
    await read_body(receive, max_bytes=64 * 1024)
    await send_json(send, 200, {"ok": True})


http_app.register("/bench/noop", noop, methods=("POST",))
