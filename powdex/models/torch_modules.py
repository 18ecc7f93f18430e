"""PyTorch modules of the learned models (training only; ``numpy_layers`` evaluates the same weights).

Module and parameter names are the weight keys of the shipped files, so keep them stable.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional


class Block(nn.Module):
    """Dense → LayerNorm → GELU → Dropout."""

    def __init__(self, n_in: int, n_out: int, dropout: float):
        super().__init__()
        self.linear = nn.Linear(n_in, n_out)
        self.norm = nn.LayerNorm(n_out)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(functional.gelu(self.norm(self.linear(x))))


class MLP(nn.Module):
    """Hidden blocks, then a linear output layer unless ``n_out`` is None."""

    def __init__(self, n_in: int, hidden: tuple[int, ...], n_out: int | None, dropout: float):
        super().__init__()
        sizes = (n_in, *hidden)
        self.hidden = nn.ModuleList(Block(a, b, dropout) for a, b in zip(sizes[:-1], sizes[1:]))
        if n_out is not None:
            self.out = nn.Linear(sizes[-1], n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.hidden:
            x = block(x)
        return self.out(x) if hasattr(self, "out") else x


class VarianceModule(nn.Module):
    """Three independent networks from the scaled peaks: μ, α = 1 + softplus(·), β = s · softplus(·) per cell parameter."""

    def __init__(self, n_peaks: int, n_parameters: int, mean_hidden, variance_hidden, dropout: float):
        super().__init__()
        self.mean = MLP(n_peaks, tuple(mean_hidden), n_parameters, dropout)
        self.alpha = MLP(n_peaks, tuple(variance_hidden), n_parameters, dropout)
        self.beta = MLP(n_peaks, tuple(variance_hidden), n_parameters, dropout)
        # A per-parameter factor on β, so on the predicted variance β / (α − 1): 1 while training,
        # then set on held-out entries (``train.calibrated_variance_scale``).
        self.register_buffer("variance_scale", torch.ones(n_parameters))

    def variance_parameters(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return 1.0 + functional.softplus(self.alpha(x)), functional.softplus(self.beta(x)) * self.variance_scale

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.mean(x), *self.variance_parameters(x)


class AssignmentModule(nn.Module):
    """Shared blocks applied to each peak's row of Δ*, then one linear softmax head per peak position.

    ``forward(delta, log_uncertainty)`` returns logits (batch, peaks, references + 1); the last class
    is the (000) label. Each peak's logits also get s · ln Δ* for the references, the log-likelihood
    of the peak under a Cauchy-like error of width ε, with a sharpness s = softplus(a_p + b_p ln τ)
    that depends on τ, the uncertainty of the candidate cell (scaled units): a cell known to 1 %
    should be trusted more than one known to 10 %. At initialisation s = 1, so the network ranks
    references as the nearest-reference rule does, and the layers learn what distance alone cannot
    tell (which lines a pattern tends to show, where the (000) class is likely).
    """

    def __init__(self, n_peaks: int, n_references: int, hidden, dropout: float):
        super().__init__()
        self.shared = MLP(n_references, tuple(hidden), None, dropout)
        bound = 1.0 / math.sqrt(hidden[-1])  # nn.Linear's initialisation, one kernel per peak
        self.heads_weight = nn.Parameter(torch.empty(n_peaks, n_references + 1, hidden[-1]).uniform_(-bound, bound))
        self.heads_bias = nn.Parameter(torch.empty(n_peaks, n_references + 1).uniform_(-bound, bound))
        self.evidence_offset = nn.Parameter(torch.full((n_peaks,), math.log(math.e - 1.0)))  # softplus⁻¹(1)
        self.evidence_slope = nn.Parameter(torch.zeros(n_peaks))

    def forward(self, delta: torch.Tensor, log_uncertainty: torch.Tensor) -> torch.Tensor:
        logits = torch.einsum("bph,poh->bpo", self.shared(delta), self.heads_weight) + self.heads_bias
        sharpness = functional.softplus(self.evidence_offset + self.evidence_slope * log_uncertainty[:, None])
        return logits + functional.pad(sharpness[..., None] * torch.log(delta), (0, 1))
