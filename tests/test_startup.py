"""Commands that only check or draw leave torch unimported: it costs about a second to import, and
its compiler stack (torch._dynamo, imported by the first optimizer built) about a second more."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import optviz

ROOT = Path(__file__).resolve().parent.parent
# Runs the CLI in a fresh interpreter, then says which of torch's modules it imported.
WRAPPER = """
import json, sys
from optviz.cli import main
sys.argv[0] = "optviz"
try:
    main()
except SystemExit:
    pass
print(json.dumps({name: name in sys.modules for name in ("torch", "torch._dynamo")}))
"""


def imported(*arguments: str | Path) -> dict[str, bool]:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    result = subprocess.run([sys.executable, "-c", WRAPPER, *map(str, arguments)], capture_output=True, text=True,
                            env=environment, cwd=ROOT, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def stored_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("stored") / "run"
    config = optviz.config_from_dict({"function": "peaks", "start": [0.0, 0.9], "steps": 12,
                                      "optimizers": [{"name": "SGD", "lr": 0.01, "momentum": 0.9},
                                                     {"name": "Adam", "lr": 0.1, "scheduler": {"name": "StepLR",
                                                                                                "step_size": 5}}]})
    optviz.run_to_dir(config, out, animate=False)
    return out


def test_animate_on_a_stored_run_imports_no_torch(stored_run):
    assert imported("animate", stored_run, "--frames", "4", "-q") == {"torch": False, "torch._dynamo": False}
    assert (stored_run / "animation.gif").is_file()


def test_report_on_a_stored_run_imports_no_torch(stored_run):
    assert imported("report", stored_run) == {"torch": False, "torch._dynamo": False}


def test_validate_of_built_in_optimizers_imports_no_torch():
    assert imported("validate", "configs/peaks.yaml") == {"torch": False, "torch._dynamo": False}


def test_validate_with_a_scheduler_builds_no_optimizer():
    # A scheduler needs an optimizer object: torch is imported, but no optimizer is built.
    assert imported("validate", "configs/peaks.yaml", "--set", "optimizers.3.scheduler={name: StepLR, step_size: 5}") \
        == {"torch": True, "torch._dynamo": False}


def test_help_and_listing_functions_import_no_torch():
    assert imported("--help") == {"torch": False, "torch._dynamo": False}
    assert imported("list", "functions") == {"torch": False, "torch._dynamo": False}
