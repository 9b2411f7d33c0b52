"""The served app in a real headless Chromium: compose a tiny run on New run, follow it to done on Runs, see the
scatter on Compare and download the HTML report. Screenshots of every page go to test-artifacts/browser/."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("DISTILL_LAB_ARTIFACTS", ROOT / "test-artifacts")) / "browser"
RUN_TIMEOUT_S = 420  # the tiny run plus the measurement of its five variants, on 2 busy cores


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(home: Path, env: dict[str, str] | None = None):
    """`streamlit run app.py` on a free local port, over the data folder `home` (plus `env`); yields its URL."""
    port = free_port()
    log = open(home / "streamlit.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port",
                             str(port), "--server.headless", "true"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            env=dict(os.environ, DISTILL_LAB_HOME=str(home), **(env or {})))
    url = f"http://localhost:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail(f"streamlit did not start: {(home / 'streamlit.log').read_text()[-2000:]}")
    yield url
    proc.terminate()
    proc.wait(timeout=20)
    log.close()


@pytest.fixture
def served_app(isolated_home):
    """The app over the test's empty data folder."""
    yield from serve(isolated_home)


@pytest.fixture
def served_app_with_run(home_with_run):
    """The app over a copy of the shared finished, measured tiny run (conftest.py home_with_run)."""
    yield from serve(Path(os.environ["DISTILL_LAB_HOME"]))


def wait_idle(page) -> None:
    """Until Streamlit has finished the current script run: its status widget is gone and no element is stale (a
    short run shows no status widget, but the elements it has not redrawn yet are marked data-stale)."""
    page.wait_for_timeout(300)
    page.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]') && "
                           "!document.querySelector('[data-stale=\"true\"]')", timeout=120_000)


def shot(page, name: str) -> None:
    """The whole page: Streamlit scrolls inside its own container, so grow the viewport to its height first."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]')?.scrollHeight || 1000")
    width = page.viewport_size["width"]
    page.set_viewport_size({"width": width, "height": min(6000, max(1000, int(height)))})
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
    page.set_viewport_size({"width": width, "height": 1000})


def set_number(page, label: str, value) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    wait_idle(page)


@pytest.mark.browser
def test_compose_run_follow_compare_and_download_report(served_app, browser_page, tiny_teacher_dir, tmp_path):
    page = browser_page
    page.goto(served_app)
    page.get_by_role("heading", name="Distill Lab").wait_for()
    wait_idle(page)
    shot(page, "1-home")

    page.goto(f"{served_app}/new_run")
    page.get_by_role("heading", name="New run").wait_for()
    wait_idle(page)
    page.get_by_role("radio", name="Compose", exact=True).click()
    wait_idle(page)
    page.get_by_text("local folder", exact=True).click()
    wait_idle(page)
    model = page.get_by_label("Model", exact=True)
    model.fill(str(tiny_teacher_dir))
    model.press("Enter")
    wait_idle(page)
    name = page.get_by_label("Run name", exact=True)
    name.fill("browser-run")
    name.press("Enter")
    wait_idle(page)
    set_number(page, "Fine-tune the teacher first (epochs)", 0)
    set_number(page, "Cap on labeled training examples (0: all)", 64)
    set_number(page, "How many", 4)
    set_number(page, "Batch size", 16)
    set_number(page, "Max tokens per input", 32)
    page.get_by_text("Estimated speedup").wait_for()
    shot(page, "2-new-run")
    page.get_by_role("button", name="Start run").click()
    page.get_by_text("queued: it trains in the background").wait_for()

    page.goto(f"{served_app}/runs")
    page.get_by_role("heading", name="Runs").wait_for()
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:  # the page polls the store itself; we only look
        status = page.locator("[data-testid='stMetric']").first.inner_text() if \
            page.locator("[data-testid='stMetric']").count() else ""
        if "done" in status:
            break
        if "failed" in status:
            pytest.fail("the run failed: " + page.inner_text("main")[-1500:])
        page.wait_for_timeout(2000)
    else:
        pytest.fail("the run did not finish in time: " + page.inner_text("main")[-1500:])
    page.get_by_text("Results on the held-out split").wait_for()
    sidebar = page.inner_text("[data-testid='stSidebar']")
    assert "browser-run" in sidebar and "done" in sidebar
    shot(page, "3-runs")

    page.goto(f"{served_app}/compare")
    page.get_by_role("heading", name="Compare").wait_for()
    wait_idle(page)
    page.locator(".js-plotly-plot .scatterlayer .point").first.wait_for()
    assert page.locator(".js-plotly-plot .scatterlayer .point").count() >= 5  # five variants of one run
    shot(page, "4-compare")
    with page.expect_download() as download:
        page.get_by_role("button", name="HTML report").click()
    report = tmp_path / "report.html"
    download.value.save_as(report)
    html = report.read_text()
    from distill_core.runs import store

    run = store.list_runs()[0]
    assert run.name == "browser-run" and run.status == "done"
    assert run.id in html and "browser-run" in html and "<svg" not in html[:200]
    assert 'src="http' not in html

    for path, heading, name in (("playground", "Playground", "5-playground"), ("learn", "Learn", "6-learn")):
        page.goto(f"{served_app}/{path}")
        page.get_by_role("heading", name=heading).first.wait_for()
        wait_idle(page)
        shot(page, name)
        assert "Traceback" not in page.inner_text("main")


# Every page of app.py's navigation: its URL path and its title.
PAGES = [("", "Distill Lab"), ("new_run", "New run"), ("runs", "Runs"), ("compare", "Compare"),
         ("sweeps", "Sweeps"), ("playground", "Playground"), ("learn", "Learn: how distillation works")]
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


def outside_requests(urls: list[str]) -> list[str]:
    """The URLs that leave the machine: any host but this one (data: and blob: URLs never leave it)."""
    from urllib.parse import urlsplit

    return sorted({u for u in urls if urlsplit(u).scheme not in ("data", "blob")
                   and urlsplit(u).hostname not in LOCAL_HOSTS})


@pytest.mark.browser
def test_every_page_renders_without_a_request_outside_the_machine(served_app_with_run, browser_page,
                                                                  home_with_run):
    """The lab works offline: no font, icon, script or chart asset comes from a CDN, on any page, with a finished
    run to show (charts, tables, the playground's model)."""
    from distill_core.views.run_ids import short_id

    page = browser_page
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    page.on("websocket", lambda socket: urls.append(socket.url))
    for path, title in PAGES:
        page.goto(f"{served_app_with_run}/{path}")
        page.get_by_role("heading", name=title).first.wait_for()
        wait_idle(page)
        main = page.inner_text("main")
        assert "Traceback" not in main and page.locator("[data-testid='stException']").count() == 0, (path, main)
    page.wait_for_timeout(1000)  # a late favicon or font request still counts
    assert any(u.startswith(served_app_with_run) for u in urls)  # the recorder saw the app's own requests
    assert outside_requests(urls) == [], f"requests outside the machine: {outside_requests(urls)}"
    assert short_id(home_with_run) in page.inner_text("[data-testid='stSidebar']")  # ids by time and suffix
