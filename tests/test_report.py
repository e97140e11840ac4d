"""report.html in a real browser: Debian's Chromium driven by playwright (never a browser download).

One browser serves the module; the folders are small runs in a temporary folder. Each page
must load with no console error and no request but its own file, and its controls must
change what is drawn: the race's heads, a sweep's path, the order of a table.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from PIL import Image

from optviz.cli import cli
from optviz.pipelines.report import gather, report_kind, thinned, write_report
from optviz.render.report.pack import pack, rounded

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
RUN = {"function": "rosenbrock", "start": [-1.5, 2.0], "steps": 30, "dtype": "float64",
       "optimizers": [{"name": "Adam", "lr": 0.1}, {"name": "SGD", "lr": 0.001, "momentum": 0.9},
                      {"name": "SGD", "label": "SGD-huge", "lr": 1.0}],
       "render": {"figures": ["loss"], "animation": {"enabled": False}}}
SWEEP = {"function": "rosenbrock", "start": [-1.5, 2.0], "steps": 40, "dtype": "float64",
         "optimizers": [{"name": "SGD", "lr": 0.001}],
         "sweep": {"optimizers.SGD.lr": [0.0003, 0.001, 0.002], "optimizers.SGD.momentum": [0.0, 0.9]},
         "render": {"figures": ["loss"]}}


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def write_config(folder: Path, name: str, data: dict) -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """A run and a sweep, each with its report written by --report."""
    root = tmp_path_factory.mktemp("reports")
    run_dir, sweep_dir = root / "run", root / "sweep"
    result = invoke("run", str(write_config(root, "run.yaml", RUN)), "--out", str(run_dir), "-q", "--report")
    assert result.exit_code == 0, result.output
    result = invoke("sweep", str(write_config(root, "sweep.yaml", SWEEP)), "--out", str(sweep_dir), "-q", "--report")
    assert result.exit_code == 0, result.output
    return {"run": run_dir, "sweep": sweep_dir}


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("no chromium on PATH: the report's browser tests drive Debian's chromium package, "
                    "which `.ci/run` installs (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class Opened:
    """A report open in the browser, with every console error and every request it made."""

    def __init__(self, browser, path: Path) -> None:
        self.url = path.resolve().as_uri()
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.goto(self.url)
        self.page.wait_for_selector("body[data-ready]", timeout=60_000)

    def foreign_requests(self) -> list[str]:
        return [url for url in self.requests if url != self.url and not url.startswith(("data:", "blob:"))]

    def evaluate(self, script: str):
        return self.page.evaluate(script)


@pytest.fixture
def open_report(browser):
    opened = []

    def open_(path: Path) -> Opened:
        opened.append(Opened(browser, path))
        return opened[-1]

    yield open_
    for each in opened:
        each.page.close()


def assert_clean(opened: Opened) -> None:
    assert opened.evaluate("document.body.dataset.ready") == "true", opened.evaluate(
        "document.getElementById('status').textContent")
    assert opened.errors == []
    assert opened.foreign_requests() == []


def assert_not_blank(png: bytes) -> None:
    image = Image.open(io.BytesIO(png)).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 200, "the screenshot has almost no colours"
    white = max((count for count, colour in colours if colour == (255, 255, 255)), default=0)
    assert white < 0.95 * image.width * image.height, "the screenshot is nearly all white"


def test_the_run_report_loads_offline_and_its_slider_moves_the_heads(folders, open_report):
    opened = open_report(folders["run"] / "report.html")
    assert_clean(opened)
    heads = "JSON.stringify(document.getElementById('race-plot').data.filter(t => (t.name || '').endsWith('(head)')).map(t => t.x))"
    at_end = opened.evaluate(heads)
    opened.page.fill("#race-step", "0")
    opened.page.dispatch_event("#race-step", "input")
    at_start = opened.evaluate(heads)
    assert at_start != at_end
    assert json.loads(at_start)[0] == [-1.5]  # every optimizer starts at x = -1.5
    assert opened.evaluate("document.getElementById('race-step-text').textContent") == "step 0"
    assert opened.evaluate("document.getElementById('surface-plot').data[0].type") == "surface"
    assert_not_blank(opened.page.screenshot(full_page=False))


def test_the_run_report_shows_the_warnings_config_figures_and_versions(folders, open_report):
    opened = open_report(folders["run"] / "report.html")
    warnings = opened.evaluate("[...document.querySelectorAll('ul.warnings li')].map(li => li.textContent)")
    assert warnings == ["SGD-huge diverged at step 4"]
    assert opened.evaluate("document.querySelectorAll('#config-yaml .k').length") > 5  # highlighted keys
    assert opened.evaluate("[...document.querySelectorAll('figcaption')].map(f => f.textContent)") == ["loss.png"]
    assert opened.evaluate("document.querySelector('figure img').src").startswith("data:image/png;base64,")
    manifest = json.loads((folders["run"] / "manifest.json").read_text())
    assert manifest["config_hash"] in opened.evaluate("document.getElementById('versions').textContent")


def test_a_table_sorts_when_its_header_is_clicked(folders, open_report):
    opened = open_report(folders["run"] / "report.html")
    column = "[...document.querySelectorAll('#table-0 tbody tr')].map(row => row.cells[%d].textContent)"
    header = opened.evaluate("[...document.querySelectorAll('#table-0 th')].map(th => th.textContent)")
    loss = header.index("final_loss")
    opened.page.click(f"#table-0 th:nth-child({loss + 1})")
    ascending = opened.evaluate(column % loss)
    numbers = [float(value) for value in ascending if value]
    assert numbers == sorted(numbers) and ascending[-1] == ""  # the diverged row has no loss: last
    opened.page.click(f"#table-0 th:nth-child({loss + 1})")
    descending = [float(value) for value in opened.evaluate(column % loss) if value]
    assert descending == sorted(numbers, reverse=True)


def test_a_sweep_slider_changes_the_path_the_curve_and_the_yaml(folders, open_report):
    opened = open_report(folders["sweep"] / "report.html")
    assert_clean(opened)
    path = "JSON.stringify(document.getElementById('sweep-path').data.filter(t => t.name === 'path').map(t => t.x))"
    loss = "JSON.stringify(document.getElementById('sweep-loss').data[0].y)"
    before = (opened.evaluate(path), opened.evaluate(loss), opened.evaluate("document.getElementById('cell-yaml').textContent"))
    lr = opened.evaluate("document.getElementById('sweep-axis-0').value")
    opened.page.fill("#sweep-axis-0", "0" if lr != "0" else "2")
    opened.page.dispatch_event("#sweep-axis-0", "input")
    after = (opened.evaluate(path), opened.evaluate(loss), opened.evaluate("document.getElementById('cell-yaml').textContent"))
    assert after[0] != before[0] and after[1] != before[1] and after[2] != before[2]
    lr_shown = float(opened.evaluate("document.getElementById('sweep-axis-0-value').textContent"))
    assert yaml.safe_load(after[2])["optimizers"][0]["lr"] == pytest.approx(lr_shown, rel=1e-3)
    assert_not_blank(opened.page.screenshot(full_page=False))


def test_clicking_the_heatmap_selects_that_cell(folders, open_report):
    opened = open_report(folders["sweep"] / "report.html")
    box = opened.evaluate("""(() => {
        document.getElementById('sweep-map').scrollIntoView();
        const layout = document.getElementById('sweep-map')._fullLayout;
        const plot = document.querySelector('#sweep-map .nsewdrag').getBoundingClientRect();
        return [plot.left + layout.xaxis.d2p(1), plot.top + layout.yaxis.d2p(0)];
    })()""")
    opened.page.mouse.click(*box)
    assert opened.evaluate("[0, 1].map(i => document.getElementById(`sweep-axis-${i}`).value)") == ["1", "0"]
    assert opened.evaluate("document.getElementById('sweep-cell').textContent").startswith(
        "Cell 2: SGD lr=0.001 momentum=0")


def test_report_on_a_basin_and_a_tune_folder(tmp_path):
    basin = write_config(tmp_path, "basin.yaml", {**RUN, "start": {"grid": [6, 5]}, "steps": 10,
                                                  "render": {"figures": ["basin"]}})
    assert invoke("basin", str(basin), "--out", str(tmp_path / "basin"), "-q", "--report").exit_code == 0
    page = gather(tmp_path / "basin")
    assert page.kind == "basin" and [figure.name for figure in page.figures] == ["basin.png"]
    assert page.race["starts"] == 30 and page.race["drawn_starts"] == 8  # 24 paths in all, over 3 optimizers
    tuned = invoke("tune", str(write_config(tmp_path, "tune.yaml", {**RUN, "steps": 10})), "--lrs", "1e-2:1e-1:2",
                   "--starts", "2", "--out", str(tmp_path / "tune"), "-q", "--report")
    assert tuned.exit_code == 0, tuned.output
    assert report_kind(tmp_path / "tune") == "tune"
    assert [table.title for table in gather(tmp_path / "tune").tables][0] == "The lrs tried (tune.csv)"
    assert (tmp_path / "tune" / "report.html").is_file()


@pytest.mark.parametrize("folder, message", [
    ("missing", "Error: missing: no such folder; make one with `optviz run CONFIG`"),
    ("empty", "Error: empty: not an optviz result folder (no config.yaml with trajectories.npz or curves.csv, "
              "sweep.json or ranking.csv); make one with `optviz run CONFIG`"),
])
def test_report_of_a_folder_that_is_no_result_is_one_line(tmp_path, monkeypatch, folder, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(cli, ["report", folder])
    assert result.exit_code == 1
    assert result.output.strip() == message


def test_the_report_is_written_atomically_and_says_where(folders):
    result = invoke("report", str(folders["run"]))
    assert result.exit_code == 0
    assert result.output.strip() == f"Wrote {folders['run'] / 'report.html'}"
    assert not list(folders["run"].glob(".*.part*"))


def test_packed_arrays_are_float32_rounded_and_nan_is_kept():
    import numpy as np

    values = np.array([1.0, 1 / 3, np.nan, -2.5e-7, np.inf])
    text, _ = pack({"a": values, "b": float("nan"), "c": [np.float64(2.0)]})
    assert json.loads(text) == {"a": {"$f32": [0, 5]}, "b": None, "c": [2.0]}
    shown = rounded(values)
    assert np.isnan(shown[2]) and np.isinf(shown[4])
    assert np.allclose(shown[[0, 1, 3]], values[[0, 1, 3]], rtol=1e-4)
    assert list(thinned(500, 200)[[0, -1]]) == [0, 499] and len(thinned(500, 200)) <= 200


def test_write_report_returns_the_page_path(folders):
    assert write_report(folders["sweep"]) == folders["sweep"] / "report.html"


def test_a_one_key_sweep_of_a_1d_function_draws_a_line_and_the_curve(tmp_path, open_report):
    config = {"function": "quadratic", "start": [2.0], "steps": 20, "optimizers": [{"name": "SGD", "lr": 0.01}],
              "sweep": {"optimizers.SGD.lr": [0.01, 0.05, 0.1]}, "render": {"figures": ["loss"]}}
    result = invoke("sweep", str(write_config(tmp_path, "lr.yaml", config)), "--out", str(tmp_path / "lr"), "-q",
                    "--report")
    assert result.exit_code == 0, result.output
    opened = open_report(tmp_path / "lr" / "report.html")
    assert_clean(opened)
    assert opened.evaluate("document.getElementById('sweep-map').data[0].type") == "scatter"
    path = "JSON.stringify(document.getElementById('sweep-path').data.find(t => t.name === 'path').x)"
    before = opened.evaluate(path)
    opened.page.fill("#sweep-axis-0", "0")
    opened.page.dispatch_event("#sweep-axis-0", "input")
    assert opened.evaluate(path) != before


def test_report_on_a_network_run_and_a_compare_folder(tmp_path):
    network = {"problem": {"data": {"name": "moons", "n_samples": 80}, "model": {"name": "mlp", "hidden": [4]},
                           "batch_size": 16, "epochs": 2},
               "seeds": [1], "optimizers": [{"name": "Adam", "lr": 0.01}]}
    result = invoke("run", str(write_config(tmp_path, "net.yaml", network)), "--out", str(tmp_path / "net"), "-q",
                    "--report")
    assert result.exit_code == 0, result.output
    page = gather(tmp_path / "net")
    assert page.kind == "network" and page.race is None
    assert [table.title for table in page.tables] == ["Summary (mean +- std over seeds)", "Per epoch (epochs.csv)"]
    suite = {"optimizers": ["Adam"], "steps": 5, "start": [0.5, 0.5], "lrs": "1e-2:1e-1:2", "starts": 1,
             "render": {"figures": ["loss"], "animation": {"enabled": False}}, "problems": [{"function": "booth"}]}
    result = invoke("compare", str(write_config(tmp_path, "suite.yaml", suite)), "--out", str(tmp_path / "suite"),
                    "-q", "--report")
    assert result.exit_code == 0, result.output
    page = gather(tmp_path / "suite")
    assert page.kind == "compare" and [link.href for link in page.links] == ["booth/report.html"]
    assert (tmp_path / "suite" / "booth" / "report.html").is_file()
    assert "ranking.png" in [figure.name for figure in page.figures]
