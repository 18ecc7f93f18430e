"""PyTorch modules of the learned models (training only; ``numpy_layers`` evaluates the same weights).

Module and parameter names are the weight keys of the shipped files, so keep them stable.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional

from powdex.models.assignment import best_other_peak, matched_lines


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
    is the (000) label. The shared blocks read each peak's row of Δ* and, beside it, the row of
    the best other peak's Δ* at each reference. These let it do better than the nearest reference:

    * evidence: each class's logit gets the log-likelihood of the peak's distance z = |Δ| / ε to
      it (z = 1/Δ* − 1), −s ln(1 + z) − g z², a Gaussian core with a Cauchy-like tail. (000), an
      index outside the list, is a line at a learnt distance z₀ = exp(u_p) / τ: unlikely where
      the cell is good. The weights s and g depend on τ, the candidate cell's stated uncertainty
      (scaled units), and on f, the mean over peaks of ln max Δ*, how well the cell fits the whole
      pattern; at initialisation s = 1, g = 0.01, so that distance ranks references as the
      nearest-reference rule does;
    * context: each peak's hidden features get a linear map of their mean over the pattern's peaks
      (zero at initialisation), and its input has the other peaks' Δ*, so a peak's assignment knows
      about the others; and the line the whole pattern's best one-to-one matching gives the peak
      (``assignment.matched_lines``: two observed peaks are two lines) gets a bonus m, learnt like
      s and g (m = 1 at initialisation);
    * the heads learn what distance alone cannot tell: which lines a pattern tends to show.
    """

    def __init__(self, n_peaks: int, n_references: int, hidden, dropout: float):
        super().__init__()
        self.shared = MLP(2 * n_references, tuple(hidden), None, dropout)
        self.context = nn.Linear(hidden[-1], hidden[-1])
        nn.init.zeros_(self.context.weight)
        nn.init.zeros_(self.context.bias)
        bound = 1.0 / math.sqrt(hidden[-1])  # nn.Linear's initialisation, one kernel per peak
        self.heads_weight = nn.Parameter(torch.empty(n_peaks, n_references + 1, hidden[-1]).uniform_(-bound, bound))
        self.heads_bias = nn.Parameter(torch.empty(n_peaks, n_references + 1).uniform_(-bound, bound))
        # s, g and m, each softplus(offset + slope ln τ + fit f)
        for name, initial in (("evidence", 1.0), ("precision", 0.01), ("matched", 1.0)):
            setattr(self, f"{name}_offset", nn.Parameter(torch.full((n_peaks,), math.log(math.expm1(initial)))))
            setattr(self, f"{name}_slope", nn.Parameter(torch.zeros(n_peaks)))
            setattr(self, f"{name}_fit", nn.Parameter(torch.zeros(n_peaks)))
        self.outside_distance = nn.Parameter(torch.full((n_peaks,), math.log(0.5)))  # u_p: z₀ = 10 at τ = 0.05

    def _weight(self, name: str, log_uncertainty: torch.Tensor, fit: torch.Tensor) -> torch.Tensor:
        offset, slope, weight = (getattr(self, f"{name}_{k}") for k in ("offset", "slope", "fit"))
        return functional.softplus(offset + slope * log_uncertainty[:, None] + weight * fit)

    def forward(self, delta: torch.Tensor, log_uncertainty: torch.Tensor) -> torch.Tensor:
        # Both pattern-wide inputs are functions of the data alone (no gradient), computed once, in numpy.
        array = delta.detach().cpu().numpy()
        claimed, matched = (torch.as_tensor(f(array), device=delta.device) for f in (best_other_peak, matched_lines))
        hidden = self.shared(torch.cat([delta, claimed], dim=2))
        hidden = hidden + self.context(hidden.mean(dim=1, keepdim=True))
        logits = torch.einsum("bph,poh->bpo", hidden, self.heads_weight) + self.heads_bias
        fit = torch.log(delta.amax(dim=2)).mean(dim=1, keepdim=True)
        outside = torch.exp(self.outside_distance - log_uncertainty[:, None])
        distance = torch.cat([1.0 / delta - 1.0, outside[..., None]], dim=2)
        sharpness, precision = (self._weight(n, log_uncertainty, fit)[..., None] for n in ("evidence", "precision"))
        bonus = self._weight("matched", log_uncertainty, fit)[..., None] * matched
        return logits - sharpness * torch.log1p(distance) - precision * distance**2 + functional.pad(bonus, (0, 1))
