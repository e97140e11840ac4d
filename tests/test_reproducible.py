"""The same config and seed give byte-identical data files; what varies lives under "timing"."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

import optviz
from optviz.load.resolved import config_hash
from optviz import config_from_dict

CONFIG = {
    "function": "himmelblau",
    "start": {"random": 5, "seed": 3},
    "steps": 40,
    "dtype": "float32",
    "optimizers": [
        {"name": "SGD", "lr": 0.002, "momentum": 0.9, "scheduler": {"name": "StepLR", "step_size": 10, "gamma": 0.5}},
        {"name": "Adam", "lr": 0.1},
        {"name": "LBFGS", "lr": 0.5, "max_iter": 3},
        {"name": "RMSprop", "lr": 0.05},
    ],
    "render": {"figures": []},  # the data files are the point here
}
DATA_FILES = ("config.yaml", "trajectories.npz", "trajectories.csv", "summary.csv")


def run_into(folder: Path, data: dict = CONFIG) -> dict:
    return optviz.run_to_dir(config_from_dict(data), folder)


@pytest.fixture(scope="module")
def first(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("first") / "run"
    run_into(folder)
    return folder


def without_timing(manifest: dict) -> dict:
    return {key: value for key, value in manifest.items() if key != "timing"}


def test_a_rerun_gives_byte_identical_data_files(first, tmp_path):
    run_into(tmp_path / "again")
    for name in DATA_FILES:
        assert (tmp_path / "again" / name).read_bytes() == (first / name).read_bytes(), name


def test_a_rerun_in_a_fresh_process_gives_the_same_bytes(first, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(CONFIG, sort_keys=False))
    completed = subprocess.run([sys.executable, "-m", "optviz", "run", str(config), "--out", str(tmp_path / "fresh"), "-q"],
                               capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
    for name in DATA_FILES:
        assert (tmp_path / "fresh" / name).read_bytes() == (first / name).read_bytes(), name


def test_only_timing_varies_between_reruns(first, tmp_path):
    again = run_into(tmp_path / "again")
    earlier = json.loads((first / "manifest.json").read_text())
    assert without_timing(again) == without_timing(earlier)
    assert set(earlier["timing"]) == {"created", "engine_seconds", "total_seconds"}


def test_the_manifest_hashes_the_resolved_config(first):
    manifest = json.loads((first / "manifest.json").read_text())
    assert manifest["config_hash"] == hashlib.sha256((first / "config.yaml").read_bytes()).hexdigest()


def test_the_hash_follows_the_meaning_not_the_spelling():
    # Shorthands and key order resolve to the same config, so to the same hash.
    spelled_out = config_from_dict({"function": "peaks", "start": [0, 0.5], "optimizers": [{"name": "Adam"}]})
    shorthand = config_from_dict({"optimizers": ["Adam"], "start": [0, 0.5], "function": "peaks"})
    changed = config_from_dict({"function": "peaks", "start": [0, 0.5], "optimizers": ["Adam"], "steps": 101})
    hashes = [config_hash(config) for config in (spelled_out, shorthand, changed)]
    assert hashes[0] == hashes[1] != hashes[2]


def test_another_seed_gives_other_starts_and_another_hash(first, tmp_path):
    other = run_into(tmp_path / "other", {**CONFIG, "start": {"random": 5, "seed": 4}})
    assert other["config_hash"] != json.loads((first / "manifest.json").read_text())["config_hash"]
    assert (tmp_path / "other" / "trajectories.npz").read_bytes() != (first / "trajectories.npz").read_bytes()


def test_the_npz_archive_carries_no_timestamps(first):
    with zipfile.ZipFile(first / "trajectories.npz") as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
