"""The live agents page in a real browser (headless Chromium): it updates itself.

Needs Selenium and Debian's chromium + chromium-driver; skipped with the reason
when either is missing. A new agent instance must appear on the open page without
a reload (a marker set in the page's window survives), through the page's own
polling or its WebSocket event.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.system import System
from tests.web.daphne_proc import Daphne

pytestmark = pytest.mark.e2e

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed in this virtualenv")


def _chrome() -> Any:
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not browser or not driver:
        pytest.skip("chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)")
    options = Options()
    options.binary_location = browser
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
    ):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(driver), options=options)


@pytest.fixture
def site(system_factory: Any) -> Iterator[tuple[System, Daphne]]:
    system = system_factory()
    made = system.manage(
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; "
        "get_user_model().objects.create_superuser('live', '', 'pw-live-1')",
    )
    assert made.returncode == 0, made.stderr
    with Daphne(system.env, system.root / "daphne.log").start() as daphne:
        yield system, daphne


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_live_page_shows_a_new_instance_without_a_reload(site: tuple[System, Daphne]) -> None:
    system, daphne = site
    from selenium.webdriver.common.by import By

    browser = _chrome()
    try:
        browser.get(daphne.url + "/admin/login/?next=/admin/agents/agentinstance/live/")
        browser.find_element(By.NAME, "username").send_keys("live")
        browser.find_element(By.NAME, "password").send_keys("pw-live-1")
        browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
        _wait(lambda: "live-picture" in browser.page_source, 30, "the live page")
        assert "LIVE-PROBE-9" not in browser.find_element(By.ID, "live-picture").text
        browser.execute_script("window.__notReloaded = true;")
        system.start_agent("probe", "LIVE-PROBE-9")
        _wait(
            lambda: "LIVE-PROBE-9" in browser.find_element(By.ID, "live-picture").text,
            60,
            "the new instance on the open page",
        )
        assert browser.execute_script("return window.__notReloaded === true;")
        assert "Updated" in browser.find_element(By.ID, "live-state").text
        severe = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
        assert not severe, severe
        # The Connected column's icons, here and in the changelist, are real images.
        for path in ("/admin/agents/agentinstance/live/", "/admin/agents/agentinstance/"):
            browser.get(daphne.url + path)
            _wait(lambda: browser.execute_script("return document.readyState") == "complete", 30, path)
            icons = browser.execute_script(
                "return Array.from(document.images).map(i => [i.src, i.complete && i.naturalWidth > 0])"
            )
            assert any("icon-yes" in src for src, _ in icons), (path, icons)
            assert all(ok for _, ok in icons), (path, icons)
    finally:
        browser.quit()
