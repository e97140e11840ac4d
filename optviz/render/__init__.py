"""Figures drawn from a finished run; renderers never re-run an optimizer."""

from .animate import build_scene, live_animation, save_animation
from .loss import plot_loss, save_loss
from .path import plot_path, save_path

__all__ = ["build_scene", "live_animation", "plot_loss", "plot_path", "save_animation", "save_loss", "save_path"]
