"""Static files under Daphne: ServeStatic in front of the whole ASGI application.

Why in front (an ASGI wrapper) rather than as Django middleware: a page of the
admin pulls a dozen CSS/JS/SVG files, and each one through Django's request
cycle under Daphne costs a few milliseconds of thread hops (see fast_http.py);
here a static request is answered from a table built at start-up, before the
fast paths and before Django, and never touches the database. The files come
from STATIC_ROOT, which ``collectstatic`` fills with content-hashed copies
(ManifestStaticFilesStorage, so ``{% static %}`` links to them) and their
gzip/brotli variants; ServeStatic picks the variant the client accepts.

Hashed names are cached forever ("immutable"); any other name for
``STATIC_MAX_AGE_S``. Files are read once when the web process starts, so a
``collectstatic`` after that needs a restart of ``web``.

The few files browsers ask for at the site root (``/favicon.ico``) live in
``orchestrator_site/web/public/`` and are served at ``/`` the same way; only
those exact paths, nothing else at the root is shadowed.
"""

from __future__ import annotations

from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from django.conf import settings

PUBLIC_DIR = Path(__file__).resolve().parent / "web" / "public"

# Django's manifest storage inserts a 12-hex-digit content hash before the extension: base.5af66c1b1797.css.
HASHED_NAME = r"^.+\.[0-9a-f]{12}\.[A-Za-z0-9]+$"


def static_application(app: Any) -> Any:
    """``app`` with STATIC_URL served from STATIC_ROOT (and PUBLIC_DIR at the root) in front of it."""
    from servestatic import ServeStaticASGI

    served = ServeStaticASGI(
        app,
        root=str(settings.STATIC_ROOT),
        prefix=settings.STATIC_URL,
        max_age=settings.STATIC_MAX_AGE_S,
        immutable_file_test=HASHED_NAME,
    )
    served.add_files(str(PUBLIC_DIR), prefix="/")
    root_files = frozenset(url for url in served.files if not url.startswith(settings.STATIC_URL))
    return StaticFirst(app, served, prefix=settings.STATIC_URL, root_files=root_files)


class StaticFirst:
    """Hand ServeStatic only the paths it may serve; everything else goes straight to ``app``.

    ServeStatic decodes and looks up every path it sees (about 2 us); this test is a
    string prefix and a set lookup, so the hot JSON paths (/api/route-llm) pay well under 1 us.
    """

    def __init__(self, app: Any, served: Any, *, prefix: str, root_files: frozenset[str]) -> None:
        self.app = app
        self.served = served
        self.prefix = prefix
        self.root_files = root_files

    def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Awaitable[None]:
        # Not ``async def``: the chosen app's coroutine is returned as it is, one frame less per request.
        path = scope.get("path", "")
        if scope["type"] == "http" and (path.startswith(self.prefix) or path in self.root_files):
            return self.served(scope, receive, send)
        return self.app(scope, receive, send)
