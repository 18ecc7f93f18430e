"""The variance networks' objectives against values computed by hand."""

import math

import pytest

torch = pytest.importorskip("torch")

from powdex.models.losses import beta_nll, inverse_gamma_nll  # noqa: E402


def by_hand(y, mu, alpha, beta):
    return (
        0.5 * math.log(2 * math.pi) - alpha * math.log(beta) - math.lgamma(alpha + 0.5) + math.lgamma(alpha)
        + (alpha + 0.5) * math.log(beta + 0.5 * (y - mu) ** 2)
    )


def tensors(*values):
    return [torch.tensor([[v]], dtype=torch.float64, requires_grad=True) for v in values]


def test_nll_sums_parameters_and_averages_the_batch():
    rows = [(1.0, 0.5, 2.0, 3.0), (-0.3, 0.2, 1.5, 0.4)]  # (y, μ, α, β) of two parameters
    y, mu, alpha, beta = (torch.tensor([[r[i] for r in rows]], dtype=torch.float64) for i in range(4))
    assert inverse_gamma_nll(y, mu, alpha, beta).item() == pytest.approx(sum(by_hand(*r) for r in rows), rel=1e-12)
    # Two identical samples: the batch mean is one sample's sum.
    assert inverse_gamma_nll(y.repeat(2, 1), mu.repeat(2, 1), alpha.repeat(2, 1), beta.repeat(2, 1)).item() == pytest.approx(
        sum(by_hand(*r) for r in rows), rel=1e-12
    )


def test_beta_nll_weights_by_the_variance_to_the_power_beta_star():
    y, mu, alpha, beta = 1.0, 0.5, 2.0, 3.0
    args = (torch.tensor([[v]], dtype=torch.float64) for v in (y, mu, alpha, beta))
    expected = (beta / (alpha - 1)) ** 0.5 * by_hand(y, mu, alpha, beta)
    assert beta_nll(*args, beta_star=0.5).item() == pytest.approx(expected, rel=1e-12)


def test_the_variance_factor_is_under_stop_gradient():
    y = torch.tensor([[1.0]], dtype=torch.float64)
    mu, alpha, beta = tensors(0.5, 2.0, 3.0)
    beta_nll(y, mu, alpha, beta, beta_star=0.5).backward()
    weighted = [t.grad.clone() for t in (mu, alpha, beta)]
    mu2, alpha2, beta2 = tensors(0.5, 2.0, 3.0)
    inverse_gamma_nll(y, mu2, alpha2, beta2).backward()
    factor = (3.0 / (2.0 - 1.0)) ** 0.5
    # Had the factor been differentiated, α and β would get the extra term NLL · ∂factor; they get none.
    for got, plain in zip(weighted, (mu2.grad, alpha2.grad, beta2.grad)):
        assert got.item() == pytest.approx(factor * plain.item(), rel=1e-12)
