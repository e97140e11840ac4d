"""What is optimized: the test-function registry, formulas from the config, user
functions by import path, domains and where a function is not finite.

:func:`function_of` is the one door from a config to its problem. The next kinds of
problem (networks on data, noisy objectives) are new modules here, behind the same door.
"""

from __future__ import annotations

from ..config import Config
from ..errors import ConfigError
from .custom import resolve_function
from .domain import check_box, check_domain, plot_domain
from .functions import Minimum, TestFunction, function_names, get_function, register
from .noise import Noise, noise_rows
from .nonfinite import NonFinite, nonfinite_region
from .sums import FiniteSum  # registers the finite-sum functions

__all__ = ["FiniteSum", "Minimum", "Noise", "NonFinite", "noise_rows", "TestFunction", "check_box", "check_domain", "function_names", "function_of",
           "get_function", "nonfinite_region", "plot_domain", "register", "resolve_function"]


def function_of(config: Config) -> TestFunction:
    """The :class:`TestFunction` that ``config`` names, defines or imports; errors keyed under ``function``.

    >>> from optviz.config import config_model
    >>> function_of(config_model({"function": "peaks", "optimizers": ["Adam"]})).dim
    2
    """
    if config.domain is not None:
        check_domain(config.domain)  # before a custom function falls back on it
    try:
        return resolve_function(config.function, domain=config.domain, base_dir=config.base_dir)
    except ConfigError as error:
        raise error.with_context(path_prefix="function") from None
