"""``python -m orchestrator_site.serve``: Daphne's own command line, on uvloop, with Twisted's form parsing off and
the start-up heap frozen out of the garbage collector's walks."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.system import System
from tests.web.daphne_proc import Daphne


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_serve_runs_daphne_on_uvloop_and_django_still_reads_form_posts(tmp_path: Path) -> None:
    system = System()
    with Daphne(system.env, tmp_path / "daphne.log") as daphne:
        daphne.start()
        assert daphne.proc is not None
        assert "uvloop" in Path(f"/proc/{daphne.proc.pid}/maps").read_text()
        # A form POST reaches Django whole (Daphne hands it the raw body; Twisted no longer parses it first):
        # the admin login answers with its form again, not a 400 from Twisted or a 500.
        with httpx.Client(base_url=daphne.url, timeout=30) as http:
            page = http.get("/admin/login/")
            token = http.cookies.get("csrftoken")
            answer = http.post(
                "/admin/login/",
                data={"username": "nobody", "password": "x", "csrfmiddlewaretoken": token},
                headers={"Referer": daphne.url + "/admin/login/"},
            )
        assert page.status_code == 200 and answer.status_code == 200
        assert "Please enter the correct username and password" in answer.text
        # Codes Twisted has no phrase for are sent with the standard one ("422 Unknown Status" before).
        refused = httpx.post(daphne.url + "/api/route-llm", json={"token_count": 5, "task_type": "vision"})
        assert refused.status_code == 422 and refused.reason_phrase == "Unprocessable Entity"
    # The garbage collector tuned as in the orchestrator and the agents, once the reactor ran, after Django and
    # the apps were loaded: far more frozen than a bare interpreter's few thousand objects.
    frozen = re.search(r"tuned for serving: (\d+) start-up objects frozen", daphne.log_path.read_text())
    assert frozen is not None, daphne.log_tail()
    assert int(frozen.group(1)) > 50_000
