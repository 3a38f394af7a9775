"""The estimators' distribution functions (``finsupport.estimate.dist``) equal ``scipy.stats``' bit for bit."""

import numpy as np
import pytest
from scipy import stats

from finsupport.estimate import dist

RNG = np.random.default_rng(20261126)
X = np.concatenate([RNG.normal(0, 3, 2000), RNG.uniform(0, 40, 200),
                    [0.0, 1e-300, 1.959963984540054, 8.5, 38.0, -38.0, np.inf, -np.inf, np.nan]])
Q = np.concatenate([RNG.uniform(0, 1, 2000), [0.975, 0.95, 0.5, 0.75, 0.25, 1e-12, 1 - 1e-12, 0.0, 1.0]])


def _same(a, b) -> None:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.shape == b.shape
    assert np.array_equal(a, b, equal_nan=True)


def test_normal():
    _same(dist.norm.cdf(X), stats.norm.cdf(X))
    _same(dist.norm.sf(X), stats.norm.sf(X))
    _same(dist.norm.pdf(X), stats.norm.pdf(X))
    _same(dist.norm.ppf(Q), stats.norm.ppf(Q))
    assert dist.norm.ppf(0.975) == stats.norm.ppf(0.975)    # scalars, as the estimators call them
    assert dist.norm.sf(1.5) == stats.norm.sf(1.5)


@pytest.mark.parametrize("df", [1, 2, 3.5, 5, 29, 87, 1000, 1e6])
def test_t(df):
    _same(dist.t.sf(np.abs(X), df), stats.t.sf(np.abs(X), df))
    _same(dist.t.ppf(Q, df), stats.t.ppf(Q, df))


@pytest.mark.parametrize("k", [1, 2, 3, 7, 20])
def test_chi2_and_f(k):
    x = np.abs(X) * 3
    _same(dist.chi2.sf(x, k), stats.chi2.sf(x, k))
    for d2 in (10, 100, 1e5):
        _same(dist.f.sf(np.abs(X), k, d2), stats.f.sf(np.abs(X), k, d2))
