"""Data sets for network problems: scikit-learn's bundled sets and generators, or a user's file.

:func:`load_dataset` gives the arrays of one seed's split: the split is stratified for
classes and deterministic given the seed, and the features are standardized with the
training split's mean and spread, so the arrays are exactly what the model is fed.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import ConfigError, quote
from ..imports import closest

# name -> (task, the scikit-learn function that makes it)
BUNDLED = ("digits", "iris", "wine", "breast_cancer")
GENERATED = {"moons": "classification", "circles": "classification", "blobs": "classification",
             "classification": "classification", "regression": "regression"}
# Generator defaults that keep a run small and noisy enough to be worth training.
GENERATOR_DEFAULTS = {"moons": {"n_samples": 400, "noise": 0.2}, "circles": {"n_samples": 400, "noise": 0.1, "factor": 0.5},
                      "blobs": {"n_samples": 400}, "classification": {"n_samples": 400},
                      "regression": {"n_samples": 400, "noise": 10.0}}
FILE_KINDS = ("npz", "csv")


def dataset_names() -> list[str]:
    """Every data set a config can name."""
    return [*BUNDLED, *GENERATED]


@dataclass(frozen=True)
class Dataset:
    """One seed's split, as fed to the model: float32 features, int64 classes or float32 targets."""

    name: str
    task: str  # "classification" or "regression"
    x_train: np.ndarray
    y_train: np.ndarray
    x_valid: np.ndarray
    y_valid: np.ndarray
    classes: int | None  # the number of classes, for classification

    @property
    def features(self) -> int:
        return int(np.prod(self.x_train.shape[1:]))

    @property
    def outputs(self) -> int:
        """What the model's last layer must give: one score per class, or one per target."""
        if self.classes is not None:
            return self.classes
        return self.y_train.shape[1]


def data_spec(data: str | dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``digits`` or ``{name: moons, noise: 0.2}`` or ``{npz: f.npz}`` as (name or kind, arguments)."""
    if isinstance(data, str):
        return data, {}
    for kind in FILE_KINDS:
        if kind in data:
            return kind, dict(data)
    if "name" not in data:
        raise ConfigError(f"a data mapping needs 'name' (one of {', '.join(dataset_names())}), 'npz' or 'csv'; "
                          f"got keys {', '.join(map(str, data))}")
    arguments = {key: value for key, value in data.items() if key != "name"}
    return str(data["name"]), arguments


def raw_dataset(data: str | dict[str, Any], *, base_dir: Path | None = None) -> tuple[str, np.ndarray, np.ndarray]:
    """The whole data set before the split: (task, features, targets); raises :class:`ConfigError`."""
    name, arguments = data_spec(data)
    if name in FILE_KINDS:
        return _from_file(name, arguments, base_dir)
    lowered = name.lower()
    if lowered in BUNDLED:
        if arguments:
            raise ConfigError(f"{lowered} is bundled with scikit-learn and takes no arguments, got "
                              f"{', '.join(arguments)}")
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, f"load_{lowered}")()
        features = bunch.images[:, None] if lowered == "digits" else bunch.data  # digits keep their 8x8 image shape
        return "classification", features, bunch.target
    if lowered in GENERATED:
        import sklearn.datasets

        maker = getattr(sklearn.datasets, f"make_{lowered}")
        given = {**GENERATOR_DEFAULTS[lowered], **arguments}
        _check_generator_arguments(lowered, maker, given)
        try:
            features, targets = maker(**given, random_state=0)
        except (ValueError, TypeError) as error:
            raise ConfigError(f"make_{lowered} rejects these arguments: {error}") from None
        return GENERATED[lowered], features, targets
    raise ConfigError(f"unknown data set {quote(name)}; {closest(name, dataset_names())}")


def _check_generator_arguments(name: str, maker: Callable, given: dict[str, Any]) -> None:
    accepted = [key for key in inspect.signature(maker).parameters if key != "random_state"]
    for key in given:
        if key not in accepted:
            raise ConfigError(f"unknown argument {quote(key)} for make_{name}; {closest(str(key), accepted)}")


def _from_file(kind: str, arguments: dict[str, Any], base_dir: Path | None) -> tuple[str, np.ndarray, np.ndarray]:
    name = str(arguments[kind])
    file = _find(name, base_dir)
    task = arguments.get("task")
    if kind == "npz":
        with np.load(file, allow_pickle=False) as arrays:
            if "x" not in arrays or "y" not in arrays:
                raise ConfigError(f"{quote(name)} needs arrays 'x' and 'y', has {', '.join(arrays.files)}")
            features, targets = arrays["x"], arrays["y"]
    else:
        target = arguments.get("target")
        if target is None:
            raise ConfigError("a csv data set needs 'target': the column to predict")
        import csv

        with open(file, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        header, body = rows[0] if rows else [], rows[1:]
        if target not in header:
            raise ConfigError(f"{quote(name)} has no column {quote(target)}; {closest(str(target), header)}")
        column = header.index(target)
        try:
            features = np.array([[float(value) for i, value in enumerate(row) if i != column] for row in body])
        except ValueError as error:
            raise ConfigError(f"{quote(name)}: every column but the target must be numeric: {error}") from None
        labels = [row[column] for row in body]
        try:
            targets = np.array([float(label) for label in labels])
        except ValueError:
            targets = np.unique(labels, return_inverse=True)[1]
    if task is None:
        integral = np.issubdtype(targets.dtype, np.integer) or bool(np.all(np.mod(targets, 1) == 0))
        task = "classification" if integral and len(np.unique(targets)) <= 100 else "regression"
    return task, features, targets


def _find(name: str, base_dir: Path | None) -> Path:
    candidates = [Path(name)] + ([base_dir / name] if base_dir is not None and not Path(name).is_absolute() else [])
    found = next((path for path in candidates if path.is_file()), None)
    if found is None:
        where = " in the current directory or the config's folder" if base_dir is not None else ""
        raise ConfigError(f"no file {quote(name)}{where}")
    return found


def split(task: str, features: np.ndarray, targets: np.ndarray, valid: float, seed: int, name: str) -> Dataset:
    """Split by ``seed`` (stratified for classes), standardize on the training split, cast for torch."""
    from sklearn.model_selection import train_test_split

    stratify = targets if task == "classification" else None
    try:
        x_train, x_valid, y_train, y_valid = train_test_split(features, targets, test_size=valid, random_state=seed,
                                                              stratify=stratify)
    except ValueError as error:
        raise ConfigError(f"cannot hold out {valid} of {len(targets)} samples: {error}") from None
    axes = (0,) if x_train.ndim == 2 else tuple(range(x_train.ndim))  # images: one mean over all pixels
    mean = x_train.mean(axis=axes, keepdims=True)
    scale = x_train.std(axis=axes, keepdims=True)
    scale = np.where(scale > 0, scale, 1.0)
    x_train, x_valid = ((x - mean) / scale for x in (x_train, x_valid))
    classes = None
    if task == "classification":
        _, y_all = np.unique(np.concatenate([y_train, y_valid]), return_inverse=True)
        classes = int(y_all.max()) + 1
        y_train, y_valid = y_all[:len(y_train)].astype(np.int64), y_all[len(y_train):].astype(np.int64)
    else:
        # (samples, targets) even for one target, so the model's (batch, 1) output meets it as is.
        y_train, y_valid = (y.astype(np.float32).reshape(len(y), -1) for y in (y_train, y_valid))
    return Dataset(name=name, task=task, x_train=np.ascontiguousarray(x_train, dtype=np.float32),
                   y_train=y_train, x_valid=np.ascontiguousarray(x_valid, dtype=np.float32), y_valid=y_valid,
                   classes=classes)


def load_dataset(data: str | dict[str, Any], valid: float, seed: int, *, base_dir: Path | None = None) -> Dataset:
    """One seed's :class:`Dataset` of ``data`` (a name or a mapping, as in the config)."""
    task, features, targets = raw_dataset(data, base_dir=base_dir)
    name = data_spec(data)[0]
    return split(task, np.asarray(features, dtype=np.float64), np.asarray(targets), valid, seed, name)
