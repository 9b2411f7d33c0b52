"""Screenshots of every page of a running Distill Lab app, for the README (assets/).

    .venv/bin/python scripts/screenshots.py [--url http://localhost:8501] [--out assets] [--start-workshop]

`--start-workshop` first clicks Home's "Start the workshop preset" (what a new user does) and exits; run it again
without the flag once the run is done. Drives Debian's chromium through Playwright, like the browser test.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

PAGES = [("", "home"), ("new_run", "new-run"), ("runs", "runs"), ("compare", "compare"),
         ("playground", "playground"), ("learn", "learn")]


def settle(page) -> None:
    page.wait_for_timeout(500)
    page.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=180_000)
    page.wait_for_timeout(1500)  # charts draw after the script run ends


def full_page(page, path: Path) -> None:
    """Streamlit scrolls inside its own container: grow the viewport to the content's height, then shoot."""
    height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]')?.scrollHeight || 1000")
    page.set_viewport_size({"width": 1440, "height": min(6000, max(900, int(height)))})
    page.wait_for_timeout(800)
    page.screenshot(path=str(path))
    page.set_viewport_size({"width": 1440, "height": 900})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://localhost:8501")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "assets"))
    parser.add_argument("--start-workshop", action="store_true")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox",
                                     "--disable-dev-shm-usage", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        if args.start_workshop:
            page.goto(args.url)
            settle(page)
            page.get_by_role("button", name="Start the workshop preset").click()
            page.get_by_role("heading", name="Runs").wait_for(timeout=60_000)
            print("workshop preset started; follow it on", f"{args.url}/runs")
            browser.close()
            return
        for path, name in PAGES:
            page.goto(f"{args.url}/{path}")
            settle(page)
            if name == "playground" and page.locator("textarea").count():
                page.locator("textarea").first.fill("Works fine, though the manual is confusing and setup took an "
                                                    "hour.")
                page.keyboard.press("Control+Enter")
                page.get_by_text("one forward pass here").first.wait_for(timeout=180_000)
                settle(page)
            full_page(page, out / f"{name}.png")
            print("saved", out / f"{name}.png")
        browser.close()


if __name__ == "__main__":
    main()
