"""The operator's pages in a real browser: Debian's Chromium driven by Selenium through
/usr/bin/chromedriver, against the whole system started as `python3 dev.py run` does.

For each page: the stylesheets loaded and applied (a computed style, not a
200), no error in the browser's console (a missing CSS, script or icon is one),
no broken image, and a screenshot under var/screenshots/ for people to look at.
Without Chromium (``python3 dev.py test`` installs it) the tests are skipped,
saying so.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_supervisor import Supervised
from tests.support.system import PROJECT_ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOTS = PROJECT_ROOT / "var" / "screenshots"
PAGE_TIMEOUT_S = 60
# The browser's own default font: a page whose <body> still has it got no stylesheet.
DEFAULT_FONTS = {'"times new roman"', "times new roman", "serif", "times"}

# Every stylesheet <link> loaded with rules, and what the body's font ended up as.
STYLE_PROBE = """
const links = Array.from(document.querySelectorAll('link[rel="stylesheet"]'));
// A sheet whose rules cannot be read was refused (e.g. an HTML 404 page where CSS was expected).
const loaded = l => { try { return l.sheet !== null && l.sheet.cssRules.length > 0; } catch (e) { return false; } };
return {
  missing: links.filter(l => !loaded(l)).map(l => l.href),
  links: links.length,
  sheets: document.styleSheets.length,
  font: getComputedStyle(document.body).fontFamily,
  broken: Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src),
};
"""


def _browser_missing() -> str | None:
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        return (
            "Chromium is not installed (needs /usr/bin/chromium and /usr/bin/chromedriver: "
            "apt-get install chromium chromium-driver, which python3 dev.py test does when it can)"
        )
    return None


@pytest.fixture(scope="module")
def system() -> Iterator[Supervised]:
    missing = _browser_missing()
    if missing:
        pytest.skip(missing)
    supervised = Supervised()
    try:
        supervised.start()
        # A routing decision, so the route log has a row to open.
        routed = httpx.post(
            f"{supervised.url}/api/route-llm",
            timeout=60,
            json={
                "token_count": 5000,
                "task_type": "coding",
                "priority": "high",
                "max_latency": 3000,
                "interface": "browser-test",
            },
        )
        assert routed.status_code == 200, routed.text
        yield supervised
    finally:
        supervised.stop()


@pytest.fixture(scope="module")
def browser(system: Supervised) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1280,1600",
        "--disable-gpu",
        "--no-first-run",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(PAGE_TIMEOUT_S)
    try:
        _log_in(driver, system)
        yield driver
    finally:
        driver.quit()


def _log_in(driver: Any, system: Supervised) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{system.url}/admin/login/?next=/admin/")
    driver.find_element(By.ID, "id_username").send_keys("admin")
    driver.find_element(By.ID, "id_password").send_keys(system.password)
    driver.find_element(By.CSS_SELECTOR, "form#login-form [type=submit], form [type=submit]").click()
    assert driver.current_url.rstrip("/").endswith("/admin"), driver.current_url
    driver.get_log("browser")  # the login page's messages are not a page under test


def _route_log_url(driver: Any, system: Supervised) -> str:
    from selenium.webdriver.common.by import By

    driver.get(f"{system.url}/admin/llmrouter/routelog/")
    link = driver.find_element(By.CSS_SELECTOR, "#result_list tbody tr th a, #result_list tbody tr td a")
    return link.get_attribute("href")


PAGES = {
    "admin-index": "/admin/",
    "providers": "/admin/llmrouter/provider/",
    "route-log": None,  # the first row of the route-log list
    "agent-instances": "/admin/agents/agentinstance/",  # the "Connected" column's icons
    "dashboard": "/admin/dashboard/",
    "live-agents": "/admin/agents/agentinstance/live/",
    "api-docs": "/api/docs/",
    "front-page": "/",
}


def _console_errors(driver: Any) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry.get("level") == "SEVERE"]


@pytest.mark.parametrize("name", list(PAGES))
def test_page_is_styled_error_free_and_photographed(browser: Any, system: Supervised, name: str) -> None:
    url = PAGES[name] and f"{system.url}{PAGES[name]}" or _route_log_url(browser, system)
    browser.get_log("browser")  # start this page with an empty console
    browser.get(url)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(SCREENSHOTS / f"{name}.png")), f"{url}: no screenshot"
    probe = browser.execute_script(STYLE_PROBE)
    errors = _console_errors(browser)
    title = browser.title
    assert not re.search(r"\b(not found|server error)\b", title, re.I), f"{url}: the page is {title!r}"
    assert probe["sheets"] > 0, f"{url}: no stylesheet at all"
    assert not probe["missing"], f"{url}: stylesheets that did not load: {probe['missing']}"
    assert probe["font"].strip().lower() not in DEFAULT_FONTS, f"{url}: the body has the browser's default font"
    assert not probe["broken"], f"{url}: broken images: {probe['broken']}"
    assert not errors, f"{url}: console errors: {errors}"
