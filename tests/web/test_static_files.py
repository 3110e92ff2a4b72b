"""Static files under a real Daphne: the admin's and DRF's CSS, JS and icons, hashed,
long-cached and compressed, served by ServeStatic in front of the ASGI application."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.support.system import System
from tests.web.daphne_proc import Daphne

pytestmark = pytest.mark.e2e

TIMEOUT = 20


@pytest.fixture(scope="module")
def daphne(web_system: System) -> Iterator[Daphne]:
    with Daphne(web_system.env, web_system.root / "daphne-static.log").start() as server:
        yield server


def _links(html: str) -> list[str]:
    return re.findall(r'(?:href|src)="(/static/[^"]+)"', html)


def test_admin_login_page_links_hashed_files_that_are_served_long_cached(daphne: Daphne) -> None:
    page = httpx.get(daphne.url + "/admin/login/", timeout=TIMEOUT)
    assert page.status_code == 200
    links = _links(page.text)
    css = [link for link in links if link.endswith(".css")]
    assert any(re.search(r"/static/admin/css/base\.[0-9a-f]{12}\.css$", link) for link in css), links
    for link in links:
        answer = httpx.get(daphne.url + link, timeout=TIMEOUT)
        assert answer.status_code == 200, link
        assert "immutable" in answer.headers["cache-control"], (link, answer.headers)
        assert int(answer.headers["cache-control"].split("max-age=")[1].split(",")[0]) >= 365 * 24 * 3600
    base = next(link for link in css if "/base." in link)
    styled = httpx.get(daphne.url + base, timeout=TIMEOUT)
    assert styled.headers["content-type"].startswith("text/css") and "--body-bg" in styled.text


@pytest.mark.parametrize("encoding", ["br", "gzip"])
def test_static_files_are_sent_compressed_when_the_client_accepts_it(daphne: Daphne, encoding: str) -> None:
    page = httpx.get(daphne.url + "/admin/login/", timeout=TIMEOUT)
    base = next(link for link in _links(page.text) if "/base." in link)
    with httpx.Client(timeout=TIMEOUT) as client:
        raw = client.get(daphne.url + base, headers={"Accept-Encoding": encoding})
    assert raw.status_code == 200 and raw.headers.get("content-encoding") == encoding
    assert "accept-encoding" in raw.headers.get("vary", "").lower()
    assert len(raw.content) > 0 and "--body-bg" in raw.text  # httpx decodes br (brotli) and gzip


def test_drf_browsable_api_and_api_docs_assets_are_served(daphne: Daphne) -> None:
    for asset in (
        "rest_framework/css/bootstrap.min.css",
        "rest_framework/js/jquery-3.7.1.min.js",
        "admin/img/icon-yes.svg",
        "admin/img/icon-no.svg",
    ):
        answer = httpx.get(f"{daphne.url}/static/{asset}", timeout=TIMEOUT)
        assert answer.status_code == 200, asset
        assert "max-age=" in answer.headers["cache-control"]


def test_unknown_static_path_is_a_plain_404_and_the_log_has_no_static_misses(daphne: Daphne) -> None:
    httpx.get(daphne.url + "/admin/login/", timeout=TIMEOUT)
    httpx.get(daphne.url + "/api/docs/", timeout=TIMEOUT)
    assert httpx.get(daphne.url + "/static/nope/missing.css", timeout=TIMEOUT).status_code == 404
    log = daphne.log_path.read_text(errors="replace")
    assert "Not Found: /static/admin" not in log and "Not Found: /static/rest_framework" not in log


def test_favicon_is_served_at_the_site_root_so_browsers_log_no_404(daphne: Daphne) -> None:
    answer = httpx.get(daphne.url + "/favicon.ico", timeout=TIMEOUT)
    assert answer.status_code == 200 and answer.content[:4] == b"\x00\x00\x01\x00"  # an ICO file
    assert answer.headers["content-type"] in ("image/x-icon", "image/vnd.microsoft.icon")
    assert httpx.get(daphne.url + "/health", timeout=TIMEOUT).status_code != 404  # the root is not shadowed
