"""de Wolff's M_N and Smith & Snyder's F_N, as published.

* de Wolff, P. M. (1968). J. Appl. Cryst. 1, 108–113:
  M_N = Q_N / (2 ε̄ N_calc), Q = 1/d², Q_N the Q of the N-th observed line,
  ε̄ the mean |Q_obs − Q_calc| of the N lines, N_calc the number of distinct
  calculated Q values up to Q_N.
* Smith, G. S. & Snyder, R. L. (1979). J. Appl. Cryst. 12, 60–65:
  F_N = (1 / |Δ2θ|‾) · N / N_poss, with |Δ2θ|‾ the mean absolute 2θ
  discrepancy of the N lines and N_poss the number of possible lines up to the
  N-th observed line; reported as F_N (|Δ2θ|‾, N_poss).

Both use the first N observed lines. As published they assume all N are
indexed; with unindexed lines (an impurity) the mean discrepancies are taken
over the indexed ones while N and Q_N still count every line, the convention
of indexing programs that report M_N together with the number of unindexed
lines (``n_unindexed``), as powdex does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FiguresOfMerit:
    n: int
    m: float
    f: float
    mean_abs_dq2: float
    mean_abs_dtt: float
    n_possible: int
    n_unindexed: int

    @classmethod
    def from_dict(cls, data: dict) -> FiguresOfMerit:
        """The inverse of ``as_dict`` (results written before ``mean_abs_dq2`` was kept read it as NaN)."""
        return cls(int(data["N"]), float(data["M"]), float(data["F"]), float(data.get("mean_abs_dq2", np.nan)),
                   float(data["mean_abs_d2theta"]), int(data["n_possible"]), int(data["n_unindexed"]))

    def as_dict(self) -> dict:
        """Fixed keys whatever N is: M and F are M_N and F_N for the N given."""
        return {
            "N": self.n,
            "M": self.m,
            "F": self.f,
            "mean_abs_d2theta": self.mean_abs_dtt,
            "mean_abs_dq2": self.mean_abs_dq2,
            "n_possible": self.n_possible,
            "n_unindexed": self.n_unindexed,
        }


def figures_of_merit(
    q2_obs: np.ndarray,
    q2_calc: np.ndarray,
    tt_obs: np.ndarray,
    tt_calc: np.ndarray,
    indexed: np.ndarray,
    q2_lines: np.ndarray,
    n: int = 20,
) -> FiguresOfMerit:
    """M_N and F_N of an indexing.

    ``q2_obs``/``tt_obs`` the observed lines (ascending), ``q2_calc``/``tt_calc``
    the calculated positions of the reflections they were indexed with (zero
    shift applied to the observations), ``indexed`` which lines are indexed,
    ``q2_lines`` the Q of every distinct line the lattice allows.
    """
    n = min(n, len(q2_obs))
    sel = slice(0, n)
    ok = np.asarray(indexed[sel], dtype=bool)
    q_n = q2_obs[n - 1]
    tt_n = tt_obs[n - 1]
    n_possible = int(np.count_nonzero(q2_lines <= q_n * (1 + 1e-9)))
    if not ok.any() or n_possible == 0:
        return FiguresOfMerit(n, 0.0, 0.0, np.inf, np.inf, n_possible, n - int(ok.sum()))
    eps_q = float(np.mean(np.abs(q2_obs[sel][ok] - q2_calc[sel][ok])))
    eps_tt = float(np.mean(np.abs(tt_obs[sel][ok] - tt_calc[sel][ok])))
    # Perfect agreement gives an infinite figure; cap it at what 1e-6 precision allows.
    m = q_n / (2 * max(eps_q, 1e-6 * q_n) * n_possible)
    f = n / (max(eps_tt, 1e-6 * tt_n) * n_possible)
    return FiguresOfMerit(n, float(m), float(f), eps_q, eps_tt, n_possible, n - int(ok.sum()))
