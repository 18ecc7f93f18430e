"""Training objectives of the variance networks (Nix & Weigend 1994; Stirn & Knowles 2021), in PyTorch.

With an inverse-gamma(α, β) prior on the variance of a normal likelihood, the
marginal of the truth y given the mean μ is a Student-t; its negative log:

    NLL = ½ ln 2π − α ln β − ln Γ(α + ½) + ln Γ(α) + (α + ½) ln(β + ½ (y − μ)²)

summed over cell parameters and averaged over the batch. β-NLL (Seitzer et al.
2022) weights each parameter's NLL by ⌊σ²^β*⌋ with σ² = β / (α − 1), the mean of
the inverse gamma; ⌊·⌋ is a stop-gradient, so the weight scales the step without
being optimised itself.
"""

from __future__ import annotations

import math

import torch


def inverse_gamma_nll_terms(y: torch.Tensor, mu: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """Per-sample, per-parameter NLL (same shape as y)."""
    return (
        0.5 * math.log(2 * math.pi)
        - alpha * torch.log(beta)
        - torch.lgamma(alpha + 0.5)
        + torch.lgamma(alpha)
        + (alpha + 0.5) * torch.log(beta + 0.5 * (y - mu) ** 2)
    )


def inverse_gamma_nll(y, mu, alpha, beta) -> torch.Tensor:
    return inverse_gamma_nll_terms(y, mu, alpha, beta).sum(dim=-1).mean()


def beta_nll(y, mu, alpha, beta, beta_star: float = 0.5) -> torch.Tensor:
    weight = (beta / (alpha - 1.0)).detach() ** beta_star
    return (weight * inverse_gamma_nll_terms(y, mu, alpha, beta)).sum(dim=-1).mean()
