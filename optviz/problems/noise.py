"""Noisy gradients: additive noise, and minibatches of a finite sum, as common random numbers.

A stochastic run repeats every start under K noise seeds. Row ``r`` of its trajectories is
start ``start_index[r]`` under noise seed ``noise_seed[r]``, seed by seed: the first
``starts`` rows are the first seed's, and so on (:func:`noise_rows`).

Every random number is a pure function of (noise seed, start index, step, and which number
of the step it is), computed by a counter-based hash (splitmix64) rather than drawn from a
stream. So it never depends on the optimizer, nor on how many starts or seeds run beside
it: two optimizers under the same seed see the same noise, and a run of the first M starts
of a batch gives them the noise the whole batch gives them. Batched and lone runs add the
same float64 numbers, cast to the run's dtype.

- **gaussian**: N(0, scale^2) per coordinate (Box-Muller).
- **student_t**: scale times a Student t with ``df`` degrees of freedom, Z / sqrt(V / df)
  with V a sum of ``df`` squared standard normals: heavy tails (variance
  scale^2 df / (df - 2) for df > 2; infinite for df <= 2).
- **uniform**: U(-scale, scale).
- ``relative: true`` multiplies a row's noise by the norm of its true gradient, so the
  noise shrinks where the gradient does.

A finite-sum function (:mod:`optviz.problems.sums`) with ``batch_size: B`` takes each
gradient from B of its terms. The terms are visited in epochs: a permutation of all of them
per (noise seed, epoch), cut into ``terms // B`` minibatches (the remainder skipped, as
``drop_last`` does). The order depends on the noise seed and the step alone, so every
optimizer and every start under one seed sees the same minibatch at the same step.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..config import NoiseSpec

_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)
# Salts that keep the hash streams of different uses apart.
_GRADIENT, _ORDER = np.uint64(0x6E6F697365), np.uint64(0x6F72646572)


def _splitmix(values: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer, element-wise on uint64 (wrapping arithmetic)."""
    z = values + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _hash(*parts: np.ndarray | int) -> np.ndarray:
    """One uint64 per element of the broadcast parts, a pure function of them."""
    state = np.zeros((), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for part in parts:
            state = _splitmix(state ^ np.asarray(part).astype(np.uint64))
    return state


def _uniform(bits: np.ndarray) -> np.ndarray:
    """Doubles in the open interval (0, 1) from 64 random bits."""
    return ((bits >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53


@dataclass(frozen=True)
class Noise:
    """A config's ``noise:`` block, resolved (see :class:`~optviz.config.NoiseSpec`)."""

    kind: str | None
    scale: float
    relative: bool
    df: int
    batch_size: int | None
    seeds: tuple[int, ...]

    @classmethod
    def of(cls, spec: NoiseSpec) -> "Noise":
        return cls(kind=spec.kind, scale=float(spec.scale or 0.0), relative=spec.relative, df=spec.df,
                   batch_size=spec.batch_size, seeds=tuple(spec.noise_seeds))

    def describe(self) -> str:
        """The noise in words, for legends and captions: ``gaussian noise 0.5, minibatches of 8``."""
        parts = []
        if self.kind:
            kind = f"student t (df {self.df})" if self.kind == "student_t" else self.kind
            parts.append(f"{kind} gradient noise {self.scale:g}{' x |grad|' if self.relative else ''}")
        if self.batch_size:
            parts.append(f"minibatches of {self.batch_size}")
        return ", ".join(parts)

    def gradient_noise(self, seeds: np.ndarray, starts: np.ndarray, step: int, evaluation: int,
                       dim: int) -> np.ndarray | None:
        """The additive noise of each row at ``step`` (its ``evaluation``-th gradient there), ``(dim, rows)``
        float64 and already scaled (not yet by the gradient norm for ``relative``); None without ``kind``."""
        if self.kind is None:
            return None
        coordinate = np.arange(dim, dtype=np.uint64)[:, None]

        def uniform(draw: int) -> np.ndarray:
            return _uniform(_hash(_GRADIENT, seeds[None, :], starts[None, :], step, evaluation, coordinate, draw))

        if self.kind == "uniform":
            return self.scale * (2.0 * uniform(0) - 1.0)

        def normal(draw: int) -> np.ndarray:  # Box-Muller, one normal per pair of uniforms
            return np.sqrt(-2.0 * np.log(uniform(2 * draw))) * np.cos(2.0 * np.pi * uniform(2 * draw + 1))

        if self.kind == "gaussian":
            return self.scale * normal(0)
        chi2 = sum(normal(1 + index) ** 2 for index in range(self.df))
        return self.scale * normal(0) / np.sqrt(chi2 / self.df)

    def minibatch(self, seeds: np.ndarray, step: int, terms: int) -> np.ndarray:
        """The terms each row's gradient takes at ``step``: ``(rows, batch_size)`` indices."""
        batch = int(self.batch_size or terms)
        per_epoch = terms // batch
        epoch, slot = divmod(step, per_epoch)
        unique, inverse = np.unique(seeds, return_inverse=True)
        orders = np.stack([_order(int(seed), epoch, terms) for seed in unique])
        return orders[inverse.reshape(-1), slot * batch:(slot + 1) * batch]


@functools.lru_cache(maxsize=4096)
def _order(seed: int, epoch: int, terms: int) -> np.ndarray:
    """The permutation of the terms in ``epoch`` under ``seed``: sorted by their hashes."""
    keys = _hash(_ORDER, seed, epoch, np.arange(terms, dtype=np.uint64))
    return np.argsort(keys, kind="stable")


def noise_rows(starts: int, seeds: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """``(start_index, noise_seed)`` of every row: each start under each seed, seed by seed."""
    start_index = np.tile(np.arange(starts), len(seeds))
    noise_seed = np.repeat(np.asarray(seeds, dtype=np.int64), starts)
    return start_index, noise_seed
