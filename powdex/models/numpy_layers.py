"""Numpy forward passes of the networks trained in PyTorch, so inference needs no torch.

Weights are a flat dict keyed like the PyTorch ``state_dict`` of the modules in
``powdex.models.torch_modules`` (``<prefix>hidden.<i>.linear.weight`` …). Hidden
blocks are Dense → LayerNorm → GELU (dropout is the identity at inference).
Arithmetic is float32 like the training, batched over all leading axes.
"""

from __future__ import annotations

import numpy as np
from scipy.special import erf

LAYER_NORM_EPS = 1e-5  # PyTorch's default, used by the training modules


def gelu(x: np.ndarray) -> np.ndarray:
    """Exact (erf) GELU, PyTorch's default."""
    return 0.5 * x * (1.0 + erf(x * np.float32(1.0 / np.sqrt(2.0))))


def softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(np.float32(0.0), x)


def layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + np.float32(LAYER_NORM_EPS)) * weight + bias


def mlp(x: np.ndarray, weights: dict[str, np.ndarray], prefix: str = "") -> np.ndarray:
    """Hidden blocks of ``prefix``, then its linear output layer when it has one."""
    x = np.asarray(x, dtype=np.float32)
    i = 0
    while f"{prefix}hidden.{i}.linear.weight" in weights:
        block = f"{prefix}hidden.{i}."
        x = x @ weights[block + "linear.weight"].T + weights[block + "linear.bias"]
        x = gelu(layer_norm(x, weights[block + "norm.weight"], weights[block + "norm.bias"]))
        i += 1
    if f"{prefix}out.weight" in weights:
        x = x @ weights[f"{prefix}out.weight"].T + weights[f"{prefix}out.bias"]
    return x


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)
