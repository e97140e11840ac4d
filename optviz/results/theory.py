"""What theory predicts for torch's SGD on a quadratic: its rate, its stability limit, its loss curve.

On f(x) = f* + (x - x*)^T H (x - x*) / 2, SGD's step is linear in the error e = x - x*,
one eigenvalue lambda of H at a time. With torch's momentum buffer b (``momentum`` beta,
``dampening`` tau, c = 1 - tau), the state (e_k, b_{k-1}) moves by the 2x2 matrix

    heavy ball:  [[1 - lr c lambda,          -lr beta  ], [c lambda, beta]]
    Nesterov:    [[1 - lr (1 + beta c) lambda, -lr beta^2], [c lambda, beta]]

(gradient descent is beta = 0: e_{k+1} = (1 - lr lambda) e_k). The error then shrinks like
rho^k, rho the largest spectral radius of these matrices over H's eigenvalues, and the loss,
a quadratic form in the error, like rho^(2k): f(x_k) - f* <= rho^(2k) (f(x_0) - f*) exactly
for gradient descent, and as the asymptotic rate for momentum. The step is stable while
rho < 1, that is for lr below 2 / lambda_max for gradient descent and
2 (1 + beta) / (c lambda_max) for heavy ball. numpy only.

>>> round(contraction(0.01, [8.0]), 6)   # 4x^2 from the seed lesson: x shrinks by 1 - 8 lr a step
0.92
>>> stability_limit(8.0)
0.25
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np


def iteration_matrices(lr: float, eigenvalues: Sequence[float], momentum: float = 0.0, *, dampening: float = 0.0,
                       nesterov: bool = False) -> np.ndarray:
    """The (len(eigenvalues), 2, 2) matrices moving (e_k, b_{k-1}) along each eigenvector, as above."""
    lam = np.asarray(eigenvalues, dtype=np.float64)
    beta = float(momentum)
    scale = 1.0 - float(dampening) if momentum else 1.0  # torch dampens only a momentum buffer
    gain = (1.0 + beta * scale) if nesterov else scale
    carried = beta * beta if nesterov else beta
    matrices = np.empty((len(lam), 2, 2))
    matrices[:, 0, 0] = 1.0 - lr * gain * lam
    matrices[:, 0, 1] = -lr * carried
    matrices[:, 1, 0] = scale * lam
    matrices[:, 1, 1] = beta
    return matrices


def contraction(lr: float, eigenvalues: Sequence[float], momentum: float = 0.0, *, dampening: float = 0.0,
                nesterov: bool = False) -> float:
    """rho: the factor the error shrinks by per step in the long run (max |1 - lr lambda| without momentum)."""
    if not momentum:
        return float(np.max(np.abs(1.0 - lr * np.asarray(eigenvalues, dtype=np.float64))))
    matrices = iteration_matrices(lr, eigenvalues, momentum, dampening=dampening, nesterov=nesterov)
    return float(np.max(np.abs(np.linalg.eigvals(matrices))))


def stability_limit(largest_eigenvalue: float, momentum: float = 0.0, *, dampening: float = 0.0,
                    nesterov: bool = False) -> float:
    """The lr below which SGD converges on a quadratic whose largest Hessian eigenvalue is given.

    2 / lambda_max for gradient descent, 2 (1 + beta) / lambda_max for heavy ball (beta in [0, 1)),
    2 (1 + beta) / ((1 + 2 beta) lambda_max) for Nesterov; dampening tau divides by 1 - tau.
    """
    beta = float(momentum)
    scale = 1.0 - float(dampening) if momentum else 1.0  # torch dampens only a momentum buffer
    # Where an eigenvalue of the iteration matrix reaches -1: det(M + I) = 0.
    gain = (1.0 + beta * scale) if nesterov else scale
    carried = beta * beta if nesterov else beta
    return 2.0 * (1.0 + beta) / (largest_eigenvalue * (gain * (1.0 + beta) - carried * scale))


def eigenvalues_of(hessian: Any) -> np.ndarray:
    """The Hessian's eigenvalues, smallest first."""
    return np.linalg.eigvalsh(np.asarray(hessian, dtype=np.float64))


# --- which runs theory speaks for -------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """What theory needs of one SGD optimizer: its constant hyperparameters."""

    momentum: float = 0.0
    dampening: float = 0.0
    nesterov: bool = False

    def describe(self) -> str:
        """``GD``, ``heavy ball beta 0.9`` or ``Nesterov beta 0.9``, for labels."""
        if not self.momentum:
            return "GD"
        return f"{'Nesterov' if self.nesterov else 'heavy ball'} beta {self.momentum:g}"


def sgd_settings(spec: Any) -> tuple[Settings | None, str | None]:
    """The :class:`Settings` of an optimizer spec that is torch's SGD theory covers, else (None, why not).

    ``why`` is None for an optimizer that is not SGD at all (nothing to say about Adam), and a
    reason for an SGD that theory does not cover here (weight decay, maximize, clipping, param groups).
    """
    name = spec.name
    if isinstance(name, str):
        plain = name.strip().lower()
        if plain not in ("sgd", "torch.optim.sgd", "torch.optim:sgd"):
            return None, None
    elif not (getattr(name, "__name__", "") == "SGD" and str(getattr(name, "__module__", "")).startswith("torch.optim")):
        return None, None
    settings = spec.hyperparameters
    if settings.get("weight_decay"):
        return None, "weight decay moves the minimum"
    if settings.get("maximize"):
        return None, "it maximizes"
    if spec.clip_grad_norm is not None:
        return None, "its gradients are clipped"
    if getattr(spec, "param_groups", None):
        return None, "its param groups step each axis by its own lr"
    return Settings(momentum=float(settings.get("momentum", 0.0) or 0.0),
                    dampening=float(settings.get("dampening", 0.0) or 0.0),
                    nesterov=bool(settings.get("nesterov", False))), None


@dataclass(frozen=True)
class RateLine:
    """One optimizer's predicted loss ``loss`` at ``steps``: f* + (f(x_0) - f*) times rho^2 per step.

    ``rate`` is rho for a constant lr (None where the lr changes: then the product of each step's
    rho^2); ``bound`` says the line bounds the loss from above (gradient descent) rather than
    giving its asymptotic rate (momentum).
    """

    label: str
    settings: Settings
    steps: np.ndarray
    loss: np.ndarray
    rate: float | None
    bound: bool

    def describe(self) -> str:
        """The legend's words: whose line, and its rho."""
        if self.rate is None:
            return f"{self.label}: theory, rho per step from its lr schedule"
        formula = "max|1 - lr·λ|" if not self.settings.momentum else "2x2 spectral radius"
        return f"{self.label}: theory, ρ = {formula} = {self.rate:.3g}"


@dataclass(frozen=True)
class Theory:
    """A quadratic run's predicted lines, one per optimizer theory covers, and notes on the others."""

    lines: dict[int, RateLine]  # by the optimizer's index in the run
    notes: list[str]


def predicted_rates(result: Any) -> Theory | None:
    """What theory predicts for each SGD of ``result`` (a :class:`~optviz.results.RunResult`), or None
    where the function is not a quadratic with a known Hessian and minimum.

    Lines start from the run's own f(x_0) (the median over its starts), so that they sit on the
    measured curves where theory is right.
    """
    function = result.function
    if function.hessian is None or function.min_value is None:
        return None
    eigenvalues = eigenvalues_of(function.hessian)
    if eigenvalues[0] <= 0:
        return Theory({}, ["no theory lines: the Hessian is not positive definite"])
    if result.noisy:
        return Theory({}, ["no theory lines: the gradients are noisy, and the rates are those of exact gradients"])
    lowest = function.min_value
    lines: dict[int, RateLine] = {}
    skipped: dict[str, list[str]] = {}  # why not -> the labels, so that one reason is one legend entry
    for index, trajectory in enumerate(result.trajectories):
        spec = result.config.optimizers[index] if index < len(result.config.optimizers) else None
        settings, why = sgd_settings(spec) if spec is not None else (None, None)
        if settings is None:
            if why:
                skipped.setdefault(why, []).append(trajectory.label)
            continue
        if not trajectory.shared_lr:
            skipped.setdefault("its lr differs between starts", []).append(trajectory.label)
            continue
        lrs = trajectory.lr[0]
        steps = trajectory.steps
        constant = bool(np.all(lrs == lrs[0]))
        if not constant and result.record_every > 1:
            skipped.setdefault(f"its lr changes, and is recorded only every {result.record_every} steps",
                               []).append(trajectory.label)
            continue
        with np.errstate(all="ignore"):
            excess = float(np.median(trajectory.loss[:, 0] - lowest))
        if not np.isfinite(excess) or excess <= 0:
            continue
        rates = np.array([contraction(lr, eigenvalues, settings.momentum, dampening=settings.dampening,
                                      nesterov=settings.nesterov) for lr in (lrs[:1] if constant else lrs[:-1])])
        with np.errstate(over="ignore", under="ignore", divide="ignore"):
            if constant:
                factor = rates[0] ** (2.0 * steps)
            else:  # the step from record k uses lrs[k]: the product of the rho^2 before each record
                factor = np.concatenate([[1.0], np.cumprod(rates**2)])
        lines[index] = RateLine(label=trajectory.label, settings=settings, steps=steps, loss=lowest + excess * factor,
                                rate=float(rates[0]) if constant else None, bound=not settings.momentum)
    notes = [f"no theory line for {' and '.join(labels)}: {why}" for why, labels in skipped.items()]
    return Theory(lines, notes)


def stability_limits(function: Any, specs: Sequence[Any]) -> dict[int, tuple[float, str]]:
    """For each SGD spec (by index) that theory covers on ``function`` (a positive definite quadratic),
    its stability limit on the lr and how it reads: ``(0.25, "lr < 2/λmax = 0.25")``. Empty otherwise."""
    if getattr(function, "hessian", None) is None:
        return {}
    largest = eigenvalues_of(function.hessian)
    if largest[0] <= 0:
        return {}
    limits = {}
    for index, spec in enumerate(specs):
        settings, _ = sgd_settings(spec)
        if settings is None:
            continue
        limit = stability_limit(largest[-1], settings.momentum, dampening=settings.dampening,
                                nesterov=settings.nesterov)
        if not settings.momentum:
            text = f"lr < 2/λmax = {limit:.3g}"
        elif settings.nesterov or settings.dampening:
            text = f"lr < {limit:.3g} ({settings.describe().replace('beta', 'β =')})"
        else:
            text = f"lr < 2(1+β)/λmax = {limit:.3g}"
        limits[index] = (limit, text)
    return limits
