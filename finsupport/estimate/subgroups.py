"""Effects by subgroup of the treated firms, with a test that they are equal.

The treated firms are split by a firm-level column (passes or fails the selection
criteria, subsidiary or independent, sector, size class); every subgroup is compared with
the same control firms (never-treated firms, plus not-yet-treated firms of the same
subgroup under ``control_group="not_yet_treated"``). Each subgroup's aggregated effect
θ_s has an influence function φ_s over the firms (zero for firms outside its sample);
stacking them gives the joint covariance V_{sr} = Σ_c (Σ_{i∈c} φ_si)(Σ_{i∈c} φ_ri) over
clusters c (firms by default), which accounts for the shared controls. The equality
test is the Wald test of R θ = 0 with R the S − 1 contrasts θ_s − θ_1:
W = (Rθ)'(R V R')⁻¹(Rθ) ~ χ²(S − 1).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError, EstimationError
from .results import EstimateResult, Inference, StoredEstimates, TestResult, wald_test

__all__ = ["SubgroupResult", "att_gt_by"]


class SubgroupResult(StoredEstimates, EstimateResult):
    """Aggregated ATT of each subgroup of treated firms (:func:`att_gt_by`, ``att_gt(..., by=...)``).

    ``params``: one term per subgroup, ``<by>=<value>``; ``cov`` the stacked
    influence-function covariance; ``tidy()`` adds ``subgroup`` and ``n_treated``
    (treated firms). ``results`` holds each subgroup's :class:`AttGtResult` and
    ``aggregates`` its aggregation.
    """

    estimator = "ATT by subgroup (Callaway–Sant'Anna)"

    def __init__(self, *, by, kind, outcome, params, cov, nobs, inference, results, aggregates, n_treated):
        self.by, self.kind, self.outcome = by, kind, outcome
        self._params, self._cov, self._nobs = params, cov, nobs
        self.inference = inference
        self.results, self.aggregates = results, aggregates
        self.n_treated = n_treated

    def _extras(self) -> pd.DataFrame:
        return pd.DataFrame({"subgroup": list(self.results), "n_treated": list(self.n_treated.values())},
                            index=self._params.index)

    def equality_test(self) -> TestResult:
        """Wald test that every subgroup's effect is the same: χ²(S − 1) with the stacked covariance."""
        S = len(self._params)
        if S < 2:
            raise EstimationError(f"only one subgroup of {self.by}: nothing to compare")
        R = np.hstack([-np.ones((S - 1, 1)), np.eye(S - 1)])
        b = R @ self._params.to_numpy()
        V = R @ self._cov.to_numpy() @ R.T
        terms = [f"{t} − {self._params.index[0]}" for t in self._params.index[1:]]
        return wald_test(b, V, name=f"Equality of the {self.kind} ATT across {self.by}", terms=terms,
                         note="stacked influence functions; shared control firms enter every subgroup")

    def _title(self) -> str:
        return f"ATT ({self.kind}) of {self.outcome} by {self.by}"

    def summary(self) -> str:
        lines = self._header() + ["", self.tidy().to_string(index=False, float_format=lambda v: f"{v:.4f}")]
        try:
            lines += ["", str(self.equality_test())]
        except EstimationError as exc:
            lines += ["", f"Equality test: not available ({exc})"]
        return "\n".join(lines)


def att_gt_by(df: pd.DataFrame, *, by: str, outcome: str, unit: str, time: str, cohort: str,
              kind: str = "simple", control_group: str = "never_treated", cluster: str | None = None,
              **options) -> SubgroupResult:
    """Callaway–Sant'Anna ATT for each subgroup of treated firms, with the stacked covariance.

    Parameters
    ----------
    df : DataFrame
        The panel of :func:`~finsupport.estimate.cs_core.att_gt`.
    by : str
        Firm-level column that splits the treated firms (constant within a firm; its value
        on never-treated firms is ignored). Missing values on treated firms are an error.
    kind : {"simple", "group", "dynamic", "calendar"}
        The aggregation whose overall figure is compared across subgroups.
    control_group, cluster, **options
        As in :func:`~finsupport.estimate.cs_core.att_gt` (``bootstrap`` is not used for
        the comparison: its covariance is analytic).

    Returns
    -------
    SubgroupResult
        ``equality_test()`` tests that the subgroups' effects are equal.
    """
    from .cs_core import att_gt

    if by not in df.columns:
        raise DataError(problems=[{"table": "panel", "column": by, "message": f"column {by!r} (the subgroup) not found",
                                   "hint": "pass the name of a firm-level column, e.g. passes_all"}])
    g = pd.to_numeric(df[cohort], errors="coerce").fillna(0)
    treated = g > 0
    if df.loc[treated, by].isna().any():
        bad = df.index[treated & df[by].isna()][:20].tolist()
        raise DataError(problems=[{"table": "panel", "column": by, "rows": bad,
                                   "message": f"{by} is missing for treated firms",
                                   "hint": f"fill {by} for every treated firm or drop those firms"}])
    varying = df.loc[treated].groupby(unit)[by].nunique()
    if (varying > 1).any():
        raise DataError(problems=[{"table": "panel", "column": by,
                                   "message": f"{by} changes within firm(s) {varying.index[varying > 1][:8].tolist()}",
                                   "hint": "subgroups are firm-level: use one value per firm"}])
    levels = sorted(df.loc[treated, by].unique().tolist(), key=str)
    results, aggs, n_tr, phis = {}, {}, {}, {}
    for s in levels:
        keep = ~treated | (df[by] == s)
        res = att_gt(df.loc[keep], outcome=outcome, unit=unit, time=time, cohort=cohort,
                     control_group=control_group, cluster=cluster, **{**options, "bootstrap": None})
        agg = res.aggregate(kind, bootstrap=0)
        results[s], aggs[s] = res, agg
        n_tr[s] = int((res.cohorts > 0).sum())
        phis[s] = pd.Series(agg.influence[:, 0] / res.n_units, index=res.units)
    units = pd.Index(sorted(set().union(*[p.index for p in phis.values()]), key=str))
    Phi = np.column_stack([phis[s].reindex(units).fillna(0.0).to_numpy() for s in levels])
    if cluster is not None:
        first = df.drop_duplicates(unit).set_index(unit)[cluster]
        Phi = pd.DataFrame(Phi).groupby(first.reindex(units).to_numpy()).sum().to_numpy()
    terms = [f"{by}={s}" for s in levels]
    params = pd.Series([aggs[s].overall_att for s in levels], index=terms, name="estimate")
    cov = pd.DataFrame(Phi.T @ Phi, index=terms, columns=terms)
    inference = Inference(method="influence", cluster=cluster or unit,
                          n_clusters=Phi.shape[0])
    return SubgroupResult(by=by, kind=kind, outcome=outcome, params=params, cov=cov, nobs=len(units),
                          inference=inference, results=results, aggregates=aggs,
                          n_treated=dict(zip(terms, n_tr.values(), strict=True)))
