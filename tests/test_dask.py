"""--executor dask: a sweep's batches as tasks on a Dask cluster, with the files of a local sweep, byte for byte.

One LocalCluster of 2 single-threaded worker processes (what ``--executor dask`` starts)
serves the module; the CLI tests reach it by its address, as ``dask:ADDRESS`` would reach a
real cluster. The workers import optviz from this checkout: PYTHONPATH names it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from optviz import config_from_dict
from optviz.cli import cli
from optviz.pipelines.executor import DaskExecutor, open_executor, parse_executor
from optviz.pipelines.sweep import batches, sweep_to_dir
from optviz.pipelines.tune import tune_to_dir

distributed = pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parent.parent


def invoke(*args):
    return CliRunner().invoke(cli, [str(arg) for arg in args])


@pytest.fixture(scope="module")
def cluster():
    """``--executor dask`` as the CLI opens it: a new LocalCluster of 2 worker processes."""
    path = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), path]))  # the workers' optviz is ours
    try:
        with open_executor("dask") as executor:
            yield executor
    finally:
        os.environ.pop("PYTHONPATH") if path is None else os.environ.__setitem__("PYTHONPATH", path)


def small_sweep(**extra):
    """Batched cells (SGD over lr x momentum, Adam over lr) and lone ones (LBFGS couples coordinates)."""
    return config_from_dict({
        "function": "rosenbrock", "start": {"random": 3, "seed": 4}, "steps": 25, "dtype": "float64",
        "optimizers": [{"name": "SGD", "lr": 0.001}, {"name": "Adam", "lr": 0.05},
                       {"name": "LBFGS", "lr": 0.5, "max_iter": 3}],
        "sweep": {"optimizers.SGD.lr": [1e-4, 1e-3, 3e-3], "optimizers.SGD.momentum": [0.0, 0.9],
                  "optimizers.Adam.lr": [0.01, 0.1], "optimizers.LBFGS.lr": [0.1, 0.5]}, **extra})


def written(folder: Path) -> dict[str, bytes]:
    """Every file a sweep leaves, by path; sweep.json without its session (times, cells computed or reused)."""
    files = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix != ".png":  # figures carry matplotlib's metadata, not the results
            data = path.read_bytes()
            if path.name == "sweep.json":
                manifest = json.loads(data)
                manifest.pop("session")
                data = json.dumps(manifest, sort_keys=True).encode()
            files[str(path.relative_to(folder))] = data
    return files


def assert_same_files(got: Path, expected: Path):
    found, wanted = written(got), written(expected)
    assert sorted(found) == sorted(wanted)
    different = [name for name in wanted if found[name] != wanted[name]]
    assert not different, f"differ from the local sweep: {different}"


def test_the_local_cluster_has_two_single_threaded_worker_processes_that_import_this_optviz(cluster):
    workers = cluster.client.scheduler_info()["workers"]
    assert [worker["nthreads"] for worker in workers.values()] == [1, 1]
    found = cluster.client.run(lambda: (__import__("optviz").__file__, os.getpid()))
    assert {Path(file).parent.parent for file, _ in found.values()} == {ROOT}
    assert os.getpid() not in {pid for _, pid in found.values()}  # processes, not threads of this one


def test_a_dask_sweep_writes_what_a_local_sweep_writes_byte_for_byte(cluster, tmp_path):
    config = small_sweep()
    assert len(batches(__import__("optviz").load.prepare(config).sweep.cells)) == 4  # SGD, Adam, LBFGS x 2
    sweep_to_dir(config, tmp_path / "local")
    manifest = sweep_to_dir(config, tmp_path / "dask", executor=cluster)
    assert (manifest["session"]["computed"], manifest["session"]["reused"]) == (10, 0)
    assert_same_files(tmp_path / "dask", tmp_path / "local")


def test_a_dask_sweep_resumes_from_the_cells_on_disk(cluster, tmp_path):
    config = small_sweep()
    sweep_to_dir(config, tmp_path / "local")
    sweep_to_dir(config, tmp_path / "dask", shard=(1, 3))  # a third of the cells, finished here
    manifest = sweep_to_dir(config, tmp_path / "dask", executor=cluster)
    assert (manifest["session"]["computed"], manifest["session"]["reused"]) == (6, 4)
    assert_same_files(tmp_path / "dask", tmp_path / "local")
    again = sweep_to_dir(config, tmp_path / "dask", executor=cluster)
    assert (again["session"]["computed"], again["session"]["reused"]) == (0, 10)


def test_optviz_sweep_executor_dask_address(cluster, tmp_path):
    config = tmp_path / "sweep.yaml"
    config.write_text("function: quadratic\nstart: [2.0]\nsteps: 40\noptimizers: [{name: SGD, lr: 0.01}]\n"
                      "sweep: {optimizers.SGD.lr: {linspace: [0.01, 0.2, 5]}}\n")
    local = invoke("sweep", config, "--out", tmp_path / "local", "-q")
    assert local.exit_code == 0, local.output
    result = invoke("sweep", config, "--out", tmp_path / "dask", "--executor", f"dask:{cluster.client.scheduler.address}")
    assert result.exit_code == 0, result.output
    assert "(5 cells: 5 computed, 0 reused)" in result.output
    assert_same_files(tmp_path / "dask", tmp_path / "local")


def test_tune_on_dask_chooses_and_writes_what_a_local_tune_does(cluster, tmp_path):
    config = config_from_dict({"function": "quadratic", "start": [2.0], "steps": 20,
                               "optimizers": [{"name": "SGD", "lr": 0.01}, {"name": "Adam", "lr": 0.1}]})
    local = tune_to_dir(config, tmp_path / "local", lrs=(1e-3, 1.0, 4), starts=2)
    remote = tune_to_dir(config, tmp_path / "dask", lrs=(1e-3, 1.0, 4), starts=2, executor=cluster)
    assert remote["optimizers"] == local["optimizers"]
    for name in ("tune.csv", "tuned.yaml"):
        assert (tmp_path / "dask" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()
    assert written(tmp_path / "dask" / "cells") == written(tmp_path / "local" / "cells")


@pytest.mark.parametrize("command", ["sweep", "tune", "compare"])
def test_every_command_that_runs_cells_takes_executor(command):
    assert "--executor local|dask[:ADDRESS]" in invoke(command, "--help").output


@pytest.mark.parametrize("text, expected", [
    ("local", ("local", None)),
    ("dask", ("dask", None)),
    ("dask:tcp://10.0.0.5:8786", ("dask", "tcp://10.0.0.5:8786")),
    ("dask:10.0.0.5:8786", ("dask", "10.0.0.5:8786")),
], ids=["local", "dask", "dask-tcp", "dask-host-port"])
def test_parse_executor(text, expected):
    assert parse_executor(text) == expected


@pytest.mark.parametrize("text", ["spark", "dask:", "local:x", ""])
def test_an_unknown_executor_is_a_usage_error(text, tmp_path):
    result = invoke("sweep", ROOT / "configs" / "quadratic_lr.yaml", "--out", tmp_path, "--executor", text)
    assert result.exit_code == 2
    assert result.output.strip() == (f"Error: --executor: expected local, dask or dask:ADDRESS (a scheduler, e.g. "
                                     f"dask:tcp://10.0.0.5:8786), got {text!r}")


def test_without_distributed_the_error_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed raises ImportError
    result = invoke("sweep", ROOT / "configs" / "quadratic_lr.yaml", "--out", tmp_path, "--executor", "dask")
    assert result.exit_code == 1
    assert result.output.strip() == ("Error: --executor dask needs Dask's distributed, which is not installed: "
                                     "pip install 'optviz[dask]'")


@pytest.mark.parametrize("address, reason", [
    ("tcp://127.0.0.1:1", "Timed out trying to connect to tcp://127.0.0.1:1 after 1 s"),
    ("nonsense://x", "unknown address scheme 'nonsense' (known schemes: ['inproc', 'tcp', 'tls', 'ucx', 'ws', 'wss'])"),
], ids=["nobody-listens", "unknown-scheme"])
def test_a_bad_address_is_one_line(address, reason, tmp_path):
    import dask

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):  # Dask's own setting, not optviz's
        result = invoke("sweep", ROOT / "configs" / "quadratic_lr.yaml", "--out", tmp_path,
                        "--executor", f"dask:{address}")
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: --executor dask:{address}: cannot reach a Dask scheduler there ({reason})"


def test_a_worker_with_other_versions_is_refused(cluster, tmp_path, monkeypatch):
    monkeypatch.setattr("optviz.pipelines.executor.versions", lambda: {"optviz": "0.0", "torch": "1.0", "numpy": "1.0"})
    with pytest.raises(Exception, match="a Dask worker runs optviz 0.1.0, torch .* where this process runs "
                                        "optviz 0.0, torch 1.0, numpy 1.0"):
        sweep_to_dir(small_sweep(), tmp_path, executor=cluster)
    assert isinstance(cluster, DaskExecutor)
