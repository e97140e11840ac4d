"""User models for the bad-config corpus: one raises while constructing, one gives the wrong number of outputs."""

import torch


class Broken(torch.nn.Module):
    def __init__(self, width: int = 4) -> None:
        super().__init__()
        raise ValueError(f"width {width} is not supported")


class ThreeScores(torch.nn.Module):
    """Three outputs whatever the data: wrong for digits' ten classes."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(64, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x.flatten(1))
