"""The built-in optimizers read from torch's source (optviz.torch_source) match torch itself:
the same constructor signatures, and the same value refused with the same message."""

from __future__ import annotations

import itertools

import pytest
import torch

from optviz.optimizers import BUILTIN_OPTIMIZERS, constructor_defaults, required_arguments
from optviz.torch_source import CHECKS, source_signature, value_error

NUMBERS = [-1.0, -0.5, 0.0, 0.5, 0.999, 1.0, 1.5, 2.0, -1, 0, 1, 2]


def torch_message(name: str, hyperparameters: dict) -> str | None:
    """What the real constructor says: its ValueError's message, or None when it builds."""
    try:
        getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)], **hyperparameters)
    except ValueError as error:
        return str(error)
    return None


def cases(name: str) -> list[dict]:
    """Each numeric hyperparameter (each element of a pair) through NUMBERS, the others at their defaults."""
    found = []
    for key, default in constructor_defaults(getattr(torch.optim, name)).items():
        if isinstance(default, bool):
            found += [{key: True}, {key: False}]
        elif isinstance(default, (int, float)) and key != "lr":  # lr <= 0 is refused before torch's check
            found += [{key: value} for value in NUMBERS]
        elif isinstance(default, tuple):
            for index, value in itertools.product(range(len(default)), NUMBERS):
                found.append({key: tuple(value if at == index else item for at, item in enumerate(default))})
    return found


def test_every_built_in_optimizer_has_its_checks():
    assert set(CHECKS) == set(BUILTIN_OPTIMIZERS)


@pytest.mark.parametrize("name", BUILTIN_OPTIMIZERS)
def test_the_source_signature_is_torchs(name):
    signature = source_signature(name)
    assert signature is not None
    real = getattr(torch.optim, name)
    assert constructor_defaults(signature) == constructor_defaults(real)
    assert required_arguments(signature) == required_arguments(real)


@pytest.mark.parametrize("name", BUILTIN_OPTIMIZERS)
def test_the_copied_checks_refuse_what_torch_refuses_with_its_message(name):
    wrong = [(hyperparameters, value_error(name, hyperparameters), torch_message(name, hyperparameters))
             for hyperparameters in cases(name)]
    assert [case for case in wrong if case[1] != case[2]] == []


@pytest.mark.parametrize("hyperparameters", [
    {"nesterov": True, "momentum": momentum, "dampening": dampening}
    for momentum, dampening in itertools.product([0.0, 0.5, 0], [0.0, 0.1, 0])])
def test_sgd_nesterov_needs_what_torch_says(hyperparameters):
    assert value_error("SGD", hyperparameters) == torch_message("SGD", hyperparameters)
