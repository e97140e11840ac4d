"""landscape.npz: a network run's loss landscape, so anyone can recompute any point of it.

``origin``, ``d1``, ``d2`` (flattened in the order of ``model.parameters()``); ``alphas``,
``betas`` and ``loss`` of shape ``(len(betas), len(alphas))``, the point at ``(i, j)`` being
``origin + alphas[j] * d1 + betas[i] * d2``; ``data`` (the split); ``kind``, ``origin_text``,
``explained`` (pca: % per axis, NaN otherwise); ``labels`` and ``seed``; per path ``i`` (in
``labels`` order) ``path_<i>`` (records, 2), ``residual_<i>``, ``iterations_<i>``,
``true_loss_<i>``, ``plane_loss_<i>`` and ``path_explained_<i>``; per interpolation ``i``
(in ``interpolation_labels`` order) ``t_<i>``, ``interpolation_train_<i>`` and ``interpolation_valid_<i>``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import RunError
from ..results.landscape import Interpolation, Landscape, Plane, PlanePath
from .npz import checked_array, read_npz, write_npz


def write_landscape(landscape: Landscape, path: Path) -> Path:
    """Write ``landscape`` to ``path`` (deterministic bytes); returns ``path``."""
    plane = landscape.plane
    arrays: dict[str, np.ndarray] = {
        "origin": plane.origin, "d1": plane.d1, "d2": plane.d2, "alphas": landscape.alphas,
        "betas": landscape.betas, "loss": landscape.loss, "data": np.array(landscape.data),
        "kind": np.array(plane.kind), "origin_text": np.array(plane.origin_text),
        "explained": np.array(plane.explained if plane.explained is not None else (np.nan, np.nan)),
        "labels": np.array([path_.label for path_ in landscape.paths], dtype=str),
        "seed": np.array(landscape.paths[0].seed if landscape.paths else
                         landscape.interpolations[0].seed if landscape.interpolations else -1),
        "interpolation_labels": np.array([line.label for line in landscape.interpolations], dtype=str),
    }
    for index, path_ in enumerate(landscape.paths):
        arrays.update({f"path_{index}": path_.coords, f"residual_{index}": path_.residual,
                       f"iterations_{index}": path_.iterations, f"true_loss_{index}": path_.true_loss,
                       f"plane_loss_{index}": path_.plane_loss, f"path_explained_{index}": np.array(path_.explained)})
    for index, line in enumerate(landscape.interpolations):
        arrays.update({f"t_{index}": line.t, f"interpolation_train_{index}": line.train_loss,
                       f"interpolation_valid_{index}": line.valid_loss})
    return write_npz(path, arrays)


def read_landscape(path: Path) -> Landscape:
    """The :class:`Landscape` written by :func:`write_landscape`; a :class:`RunError` naming ``path`` if damaged."""
    arrays = read_npz(path)
    origin = checked_array(arrays, path, "origin", ndim=1)
    count = len(origin)
    alphas, betas = checked_array(arrays, path, "alphas", ndim=1), checked_array(arrays, path, "betas", ndim=1)
    loss = checked_array(arrays, path, "loss", shape=(len(betas), len(alphas)))
    explained = checked_array(arrays, path, "explained", shape=(2,))
    plane = Plane(kind=str(checked_array(arrays, path, "kind", text=True)), origin=origin,
                  d1=checked_array(arrays, path, "d1", shape=(count,)), d2=checked_array(arrays, path, "d2", shape=(count,)),
                  explained=None if np.isnan(explained).any() else (float(explained[0]), float(explained[1])),
                  origin_text=str(checked_array(arrays, path, "origin_text", text=True)))
    seed = int(checked_array(arrays, path, "seed", ndim=0))
    landscape = Landscape(plane=plane, data=str(checked_array(arrays, path, "data", text=True)), alphas=alphas,
                          betas=betas, loss=loss)
    labels = arrays.get("labels", np.array([], dtype=str))
    for index, label in enumerate(labels.tolist()):
        coords = checked_array(arrays, path, f"path_{index}", shape=(None, 2))
        records = (len(coords),)
        landscape.paths.append(PlanePath(
            label=label, seed=seed, iterations=checked_array(arrays, path, f"iterations_{index}", shape=records),
            coords=coords, residual=checked_array(arrays, path, f"residual_{index}", shape=records),
            true_loss=checked_array(arrays, path, f"true_loss_{index}", shape=records),
            plane_loss=checked_array(arrays, path, f"plane_loss_{index}", shape=records),
            explained=float(checked_array(arrays, path, f"path_explained_{index}", ndim=0))))
    for index, label in enumerate(arrays.get("interpolation_labels", np.array([], dtype=str)).tolist()):
        t = checked_array(arrays, path, f"t_{index}", ndim=1)
        landscape.interpolations.append(Interpolation(
            label=label, seed=seed, t=t,
            train_loss=checked_array(arrays, path, f"interpolation_train_{index}", shape=(len(t),)),
            valid_loss=checked_array(arrays, path, f"interpolation_valid_{index}", shape=(len(t),))))
    if not isinstance(landscape.data, str) or landscape.data not in ("train", "valid"):
        raise RunError(f"{path}: array 'data' must be 'train' or 'valid', got {landscape.data!r}")
    return landscape
