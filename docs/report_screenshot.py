"""Screenshot a sweep's report for the README: ``docs/sweep-report.png``.

    optviz sweep configs/sgd_grid.yaml --report
    python docs/report_screenshot.py outputs/sgd_grid/report.html

Drives Debian's Chromium through playwright (as tests/test_report.py does), selects a cell
with the sliders, and captures the "Explore the sweep" part of the page at 1400 x 1000.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def main(report: Path, out: Path, lr_index: int = 20, momentum_index: int = 28) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(report.resolve().as_uri())
        page.wait_for_selector("body[data-ready=true]", timeout=60_000)
        for axis, index in enumerate((lr_index, momentum_index)):
            page.fill(f"#sweep-axis-{axis}", str(index))
            page.dispatch_event(f"#sweep-axis-{axis}", "input")
        page.evaluate("document.getElementById('explore').scrollIntoView()")
        page.wait_for_timeout(500)
        page.screenshot(path=str(out))
        browser.close()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "outputs/sgd_grid/report.html"),
         Path(__file__).resolve().parent / "sweep-report.png")
