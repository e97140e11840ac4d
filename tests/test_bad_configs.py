"""Every config in tests/bad_configs/ fails with its exact one-line error and changes nothing.

A case is one YAML file. Its first line is ``# error: <message>``, the text optviz
must print after ``Error: <file>: ``; an optional ``# args: ...`` line adds
command-line arguments (``--set``, ``--safe``), and an optional ``# needs: ...`` line
names the packages of the ``optviz[optimizers]`` extra the case needs (skipped
without them). The Python files beside them are modules that some cases import.
Adding a case is adding one file.
"""

from __future__ import annotations

import importlib.util
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from optviz.cli import cli

CORPUS = Path(__file__).parent / "bad_configs"

# What the issue asks the corpus to cover, at the least; a case cannot quietly disappear.
REQUIRED = {
    "yaml_syntax_error", "empty", "list_not_mapping", "unknown_top_level_key", "unknown_function",
    "unknown_optimizer", "unknown_scheduler", "unknown_hyperparameter", "wrong_type_hyperparameter",
    "lr_negative", "steps_zero", "steps_too_many", "start_wrong_dimension", "start_not_finite",
    "domain_not_finite", "duplicate_labels", "import_missing_module", "import_missing_file", "import_raises",
    "set_names_no_key", "safe_refuses_optimizer_import", "safe_refuses_function_import",
    "expression_attribute_access", "expression_overflow", "expression_too_deep", "expression_too_long",
    # network problems (issue 11)
    "network_unknown_dataset", "network_unknown_model", "network_output_mismatch", "network_model_raises",
    "network_missing_file", "network_csv_without_target", "network_safe_refuses_model_import",
}


@dataclass(frozen=True)
class Case:
    path: Path
    message: str
    args: tuple[str, ...]
    needs: tuple[str, ...] = ()

    @property
    def installed(self) -> bool:
        return all(importlib.util.find_spec(package) is not None for package in self.needs)

    def skip_unless_installed(self) -> None:
        for package in self.needs:
            pytest.importorskip(package)

    @property
    def line(self) -> str:
        return f"Error: {self.path}: {self.message}"


def read_case(path: Path) -> Case:
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines and lines[0].startswith("# error: "), f"{path.name}: the first line must be '# error: <message>'"
    args = next((line.removeprefix("# args: ") for line in lines[1:3] if line.startswith("# args: ")), "")
    needs = next((line.removeprefix("# needs: ") for line in lines[1:3] if line.startswith("# needs: ")), "")
    return Case(path, lines[0].removeprefix("# error: "), tuple(shlex.split(args)), tuple(needs.split()))


CASES = [read_case(path) for path in sorted(CORPUS.glob("*.yaml"))]


def snapshot(directory: Path) -> dict[str, bytes]:
    return {str(path.relative_to(directory)): path.read_bytes() for path in sorted(directory.rglob("*")) if path.is_file()}


@pytest.fixture(autouse=True)
def elsewhere(tmp_path, monkeypatch):
    """Run from an empty folder: relative imports must come from the config's folder, not the cwd."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPTVIZ_SENTINEL", str(tmp_path / "imported"))


def test_the_corpus_covers_every_required_failure():
    assert REQUIRED <= {case.path.stem for case in CASES}
    assert len({case.message for case in CASES}) == len(CASES), "two cases expect the same error"


@pytest.mark.parametrize("earlier_run", [False, True], ids=["no-out-dir", "earlier-run-kept"])
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.path.stem)
def test_run_prints_one_line_exits_2_and_touches_nothing(case, earlier_run, tmp_path):
    case.skip_unless_installed()
    out = tmp_path / "out"
    if earlier_run:
        out.mkdir()
        (out / "trajectories.csv").write_text("label,start,step,x,y,loss,lr,grad_norm\nSGD,0,0,1.0,2.0,3.0,0.1,4.0\n")
        (out / "manifest.json").write_text('{"runs": []}\n')
        (out / "notes.txt").write_text("mine\n")
    before = snapshot(out) if earlier_run else None

    result = CliRunner().invoke(cli, ["run", str(case.path), "--out", str(out), *case.args])

    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # not an escaped exception
    assert result.stderr == case.line + "\n"
    assert result.stdout == ""
    assert "Traceback" not in result.output
    if earlier_run:
        assert snapshot(out) == before
    else:
        assert not out.exists()
    assert not (tmp_path / "imported").exists()


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.path.stem)
def test_validate_prints_the_same_line(case):
    case.skip_unless_installed()
    result = CliRunner().invoke(cli, ["validate", str(case.path), *case.args])
    assert result.exit_code == 2
    assert result.stderr == case.line + "\n"


@pytest.mark.parametrize("content", ["", "\n\n   \n", "# only a comment\n"], ids=["zero-bytes", "blank", "comment"])
def test_an_empty_file_says_so(content, tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text(content)
    result = CliRunner().invoke(cli, ["run", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.stderr == f"Error: {path}: the config is empty; it needs at least 'function' and 'optimizers'\n"


def test_a_real_process_prints_only_the_lines():
    """The installed command, not CliRunner: stderr holds exactly the error lines, no traceback."""
    plain = [case for case in CASES if not case.args and case.installed]
    completed = subprocess.run([sys.executable, "-m", "optviz", "validate", "-q", *(str(case.path) for case in plain)],
                               capture_output=True, text=True, timeout=300)
    assert completed.returncode == 2
    assert completed.stdout == ""
    assert completed.stderr.splitlines() == [case.line for case in plain]


def test_run_in_a_real_process(tmp_path):
    case = next(case for case in CASES if case.path.stem == "import_raises")
    completed = subprocess.run([sys.executable, "-m", "optviz", "run", str(case.path), "--out", str(tmp_path / "out")],
                               capture_output=True, text=True, timeout=300)
    assert (completed.returncode, completed.stdout, completed.stderr) == (2, "", case.line + "\n")
    assert not (tmp_path / "out").exists()
