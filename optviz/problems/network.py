"""A network problem: for each seed, the data split, the initial model and the loss.

The engine's training loop (:mod:`optviz.training`) drives it through this one small
interface: :meth:`NetworkProblem.dataset`, :meth:`NetworkProblem.initial_model` and
:meth:`NetworkProblem.loss`. Everything a seed fixes is made here, once, so every
optimizer trained from that seed starts from the same weights on the same data.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..config import Config, ProblemSpec
from ..errors import ConfigError
from .data import Dataset, load_dataset, raw_dataset
from .models import build_model

if TYPE_CHECKING:
    import torch

LOSSES = ("cross_entropy", "mse")


@dataclass(frozen=True)
class NetworkProblem:
    """``problem:`` of a config, resolved: the task it is and how to build each seed's pieces."""

    spec: ProblemSpec
    task: str  # "classification" or "regression"
    base_dir: Path | None = None

    @property
    def loss_name(self) -> str:
        return self.spec.loss or ("cross_entropy" if self.task == "classification" else "mse")

    def dataset(self, seed: int) -> Dataset:
        """The split of ``seed``, standardized and cast as the model is fed (the same for every call)."""
        return _dataset(self.spec, seed, self.base_dir)

    def build(self, dataset: Dataset) -> "torch.nn.Module":
        """A model for ``dataset`` with whatever weights torch's generator gives now."""
        return build_model(self.spec.model, tuple(dataset.x_train.shape[1:]), dataset.outputs, base_dir=self.base_dir)

    def initial_model(self, seed: int, dataset: Dataset) -> "torch.nn.Module":
        """The model of ``seed``: built under ``torch.manual_seed(seed)``, torch's generator restored after."""
        import torch

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self.build(dataset)

    def loss(self) -> Callable[..., Any]:
        """The loss, a mean over the batch: ``torch.nn.functional.cross_entropy`` or ``mse_loss``."""
        import torch

        return torch.nn.functional.cross_entropy if self.loss_name == "cross_entropy" else torch.nn.functional.mse_loss


@functools.lru_cache(maxsize=16)
def _cached_dataset(spec_json: str, seed: int, base_dir: Path | None) -> Dataset:
    spec = ProblemSpec.model_validate_json(spec_json)
    return load_dataset(spec.data, spec.valid, seed, base_dir=base_dir)


def _dataset(spec: ProblemSpec, seed: int, base_dir: Path | None) -> Dataset:
    # Keyed by the spec's content: a config checked and then run loads its data once.
    return _cached_dataset(spec.model_dump_json(), seed, base_dir)


def network_problem(config: Config) -> NetworkProblem:
    """The :class:`NetworkProblem` of ``config.problem``; errors keyed under ``problem``."""
    spec = config.problem
    if spec is None:
        raise ConfigError("this config has no problem block", path="problem")
    try:
        task = raw_dataset(spec.data, base_dir=config.base_dir)[0]
    except ConfigError as error:
        raise error.with_context(path_prefix="problem.data") from None
    if spec.loss == "cross_entropy" and task == "regression":
        raise ConfigError("cross_entropy needs classes and this data set is a regression; use mse",
                          path="problem.loss")
    return NetworkProblem(spec=spec, task=task, base_dir=config.base_dir)
