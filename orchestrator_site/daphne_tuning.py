"""What this site changes in Daphne's Twisted request, and why; applied once, when the ASGI app is imported.

Reason phrases: Twisted's table (``twisted.web.http.RESPONSES``) lacks codes this site answers with, 422 and
429 among them, and wrote them as ``HTTP/1.1 422 Unknown Status``. ``standard_reason_phrases`` fills the gaps
from Python's own ``http.HTTPStatus`` (codes Twisted knows keep its phrase).

Form parsing:
Twisted's ``http.Request`` parses every POST body with a form content type into ``request.args``
(``parsePOSTFormSubmission``, a documented constructor argument, on by default), and to find out
whether the body is a form it parses each POST's Content-Type header with ``email.message``. Daphne
never reads ``args``: it hands the raw body (``request.content``) to the ASGI application. So the
parsing is pure cost: 8 % of the gateway's CPU per proxied request in a profile (py-spy, 32 clients),
and for a multipart upload a second full copy of the body in memory before Django sees it.
"""

from __future__ import annotations

import functools
from typing import Any


def standard_reason_phrases() -> None:
    from http import HTTPStatus

    from twisted.web import http

    for status in HTTPStatus:
        http.RESPONSES.setdefault(status.value, status.phrase.encode("ascii"))


def skip_twisted_form_parsing() -> None:
    from daphne.http_protocol import WebRequest

    if getattr(WebRequest.__init__, "_no_form_parsing", False):
        return
    original = WebRequest.__init__

    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:  # noqa: N807 - the wrapped constructor
        kwargs.setdefault("parsePOSTFormSubmission", False)
        original(self, *args, **kwargs)

    __init__._no_form_parsing = True  # type: ignore[attr-defined]
    WebRequest.__init__ = __init__
