"""The normal, t, χ² and F distribution functions the estimators use, from ``scipy.special``.

``scipy.stats`` computes these with the same ``scipy.special`` routines (bit for bit: tested
in ``tests/test_dist.py``), but importing it costs about a second; a run needs only these
few functions. The objects mirror ``scipy.stats.norm``, ``t``, ``chi2`` and ``f`` for the
methods used: ``norm.cdf/sf/ppf/pdf``, ``t.sf/ppf``, ``chi2.sf``, ``f.sf``.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from scipy import special

__all__ = ["norm", "t", "chi2", "f"]

_SQRT_2PI = np.sqrt(2 * np.pi)

norm = SimpleNamespace(
    cdf=lambda x: special.ndtr(x),
    sf=lambda x: special.ndtr(-np.asarray(x)),
    ppf=lambda q: special.ndtri(q),
    pdf=lambda x: np.exp(-np.square(x) / 2.0) / _SQRT_2PI,
)


def _t_ppf(q, df):
    # stdtrit gives +inf at q = 0; the quantile there is the support's lower end, -inf
    return np.where(np.asarray(q) == 0, -np.inf, special.stdtrit(df, q))[()]


t = SimpleNamespace(
    sf=lambda x, df: special.stdtr(df, -np.asarray(x)),
    ppf=_t_ppf,
)
chi2 = SimpleNamespace(sf=lambda x, df: special.chdtrc(df, x))
f = SimpleNamespace(sf=lambda x, dfn, dfd: special.fdtrc(dfn, dfd, x))
