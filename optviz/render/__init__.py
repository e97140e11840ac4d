"""Figures drawn from a finished run; renderers never re-run an optimizer."""

from . import backend  # noqa: F401 - first: checks MPLBACKEND once, before any renderer imports matplotlib
from .animate import build_scene, live_animation, save_animation
from .backend import check_display
from .basin import plot_basin, save_basin
from .diagnostics import plot_diagnostics, save_diagnostics
from .internals import has_internals, plot_internals, save_internals
from .loss import plot_loss, save_loss
from .network import (plot_accuracy, plot_curves, plot_training_diagnostics, save_accuracy, save_curves,
                      save_network_figures, save_training_diagnostics)
from .path import plot_path, save_path
from .plane import (plot_landscape, save_landscape, save_landscape_1d, save_landscape_3d, save_landscape_animation,
                    save_landscape_figures)
from .surface import plot_surface, save_surface
from .sweep import plot_sweep_best, plot_sweep_heatmap, plot_sweep_loss, save_sweep_best, save_sweep_heatmap, save_sweep_loss
from .tune import plot_tune, save_tune

__all__ = ["build_scene", "check_display", "live_animation", "plot_basin", "save_basin", "plot_diagnostics", "plot_loss", "plot_path", "plot_surface",
           "has_internals", "plot_internals", "save_internals",
           "save_animation", "save_diagnostics", "save_loss", "save_path", "save_surface",
           "plot_sweep_best", "plot_sweep_heatmap", "plot_sweep_loss", "plot_tune", "save_sweep_best", "save_sweep_heatmap",
           "save_sweep_loss", "save_tune", "plot_accuracy", "plot_curves", "plot_training_diagnostics", "save_accuracy",
           "save_curves", "save_network_figures", "save_training_diagnostics", "plot_landscape", "save_landscape",
           "save_landscape_1d", "save_landscape_3d", "save_landscape_animation", "save_landscape_figures"]
