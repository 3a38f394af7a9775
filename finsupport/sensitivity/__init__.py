"""How much the answer depends on the method: a specification grid over measurement and estimation.

:func:`sensitivity` measures the data under every combination (or every one-at-a-time
variation) of measurement options and, optionally, estimates the certification effect
under every combination of estimation options, in parallel on Dask when it is
installed. One tidy row per specification: its options, the headline share and its
components, and the effect with its interval.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..progress import Progress
from .schedule import resolve_scheduler, run_specs
from .specs import ESTIMATE_OPTIONS, MEASURE_OPTIONS, Spec, base_estimate, base_measure, build_specs

__all__ = ["sensitivity", "SensitivityResult", "MEASURE_OPTIONS", "ESTIMATE_OPTIONS", "resolve_scheduler"]


@dataclass
class SensitivityResult:
    """A computed specification grid.

    Attributes
    ----------
    table : DataFrame
        One row per specification (see :meth:`tidy`).
    varied : list of str
        The options that vary across the grid.
    skipped : DataFrame
        Combinations left out and why (an estimator that has no such control group).
    scheduler : str
        What ran the grid ("sync (this process)", "dask local cluster (2 worker processes)", …).
    """

    table: pd.DataFrame
    varied: list[str]
    mode: str
    scheduler: str
    skipped: pd.DataFrame = field(default_factory=pd.DataFrame)
    years: tuple[int, int] | None = None
    firms: str = ""
    alpha: float = 0.05

    def tidy(self) -> pd.DataFrame:
        """One row per specification: ``spec`` (a stable 12-hex-digit key of its options),
        ``varied`` (the option this row varies, ``base``, or ``full``), ``is_base``, the
        measurement options, the estimation options (missing where the estimator does
        not use one), ``share`` (pooled: Σ support / Σ revenue) and ``<component>_share``,
        ``mean_firm_share``, ``median_firm_share``, ``n_firms``, ``n_firm_years``, and,
        where estimated, ``effect_term, estimate, std_error, p_value, conf_low, conf_high,
        nobs, n_clusters, se_method, error``; ``seed``."""
        return self.table.copy()

    def headline_range(self) -> dict[str, Any]:
        """Smallest and largest pooled share across the grid, with the base value."""
        s = self.table["share"]
        base = self.table.loc[self.table["is_base"], "share"]
        return {"min": float(s.min()), "max": float(s.max()), "base": float(base.iloc[0]) if len(base) else np.nan,
                "n_specifications": int(self.table["spec"].nunique())}

    def effect_range(self) -> dict[str, Any] | None:
        """Smallest and largest effect estimate, and how many intervals exclude zero."""
        if "error" not in self.table:
            return None
        t = self.table[self.table["estimate"].notna()]
        return {"min": float(t["estimate"].min()) if len(t) else np.nan,
                "max": float(t["estimate"].max()) if len(t) else np.nan,
                "n_estimated": len(t), "n_failed": int((self.table["error"].fillna("") != "").sum()),
                "n_excluding_zero": int(((t["conf_low"] > 0) | (t["conf_high"] < 0)).sum())}

    def summary(self) -> str:
        h = self.headline_range()
        lines = [f"Specification grid ({self.mode.replace('_', ' ')}): {h['n_specifications']} specifications "
                 f"varying {', '.join(self.varied) or 'nothing'}; run by {self.scheduler}",
                 f"  support share (pooled, {self.firms}, {self._years()}): {h['min']:.2%} to {h['max']:.2%}; "
                 + (f"base specification {h['base']:.2%}" if h["base"] == h["base"]
                    else "the base specification is not in the grid")]
        e = self.effect_range()
        if e is not None and e["n_estimated"]:
            lines.append(f"  effect estimates: {e['min']:.4f} to {e['max']:.4f}; {e['n_excluding_zero']} of "
                         f"{e['n_estimated']} {1 - self.alpha:.0%} intervals exclude zero"
                         + (f"; {e['n_failed']} could not be estimated (see the error column)" if e["n_failed"] else ""))
        elif e is not None:
            lines.append(f"  effect estimates: none; all {e['n_failed']} specifications failed (see the error column)")
        if len(self.skipped):
            lines.append(f"  left out: {len(self.skipped)} combination(s) ({'; '.join(sorted(set(self.skipped['reason'])))})")
        return "\n".join(lines)

    def _years(self) -> str:
        return f"{self.years[0]}–{self.years[1]}" if self.years else "all years"

    def __repr__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        return f"<pre>{self.summary()}</pre>" + self.table.to_html(index=False, max_rows=60)

    def plotted(self) -> str:
        """What the curve shows by default: ``"effect"`` when the grid estimated something,
        else ``"share"`` (the headline share)."""
        e = self.effect_range()
        return "effect" if e is not None and e["n_estimated"] else "share"

    def plot(self, *, what: str | None = None, ax=None, title: str = ""):
        """The specification curve (:func:`finsupport.sensitivity.curve.plot_specification_curve`):
        effects when the grid estimated, else the headline share (:meth:`plotted`)."""
        from .curve import WHAT, plot_specification_curve

        what = what or self.plotted()
        if what not in WHAT:
            raise ConfigError(f"what = {what!r}; use 'effect' or 'share'")
        return plot_specification_curve(self.table, self.varied, what=what, ax=ax, title=title,
                                        level=1 - self.alpha)


def sensitivity(
    data,
    *,
    measure: Mapping[str, Sequence[Any]] | None = None,
    estimate: Mapping[str, Sequence[Any]] | None = None,
    mode: str = "full",
    base: Mapping[str, Mapping[str, Any]] | None = None,
    years: tuple[int, int] | None = None,
    firms: Sequence[str] | None = None,
    cohorts: Sequence[int] | None = None,
    tier: str = "little_giant",
    seed: int = 20240101,
    alpha: float = 0.05,
    scheduler: Any = None,
    progress: Progress | bool | None = None,
) -> SensitivityResult:
    """Measure (and estimate) under many specifications and tabulate how the answer moves.

    Parameters
    ----------
    data : Dataset
        As from :func:`finsupport.read_dataset` or :func:`finsupport.load_example`.
    measure : mapping option → list of values, optional
        Measurement options to vary, named as in :func:`finsupport.support_flows` and the
        run configuration's ``[measure]`` section (``subsidy_basis``, ``equity_basis``,
        ``benchmark``, ``spread_bp``, ``aul_years``, ``expense_threshold``,
        ``state_investor_types`` — a list of lists —, ``first_year_debt``). Every value is
        checked as the run configuration checks it.
    estimate : mapping option → list of values, optional
        Estimation options to vary: ``estimator`` (twfe, event_study, att_gt,
        sun_abraham, imputation), ``outcome``, ``control_group``, ``method``,
        ``covariates`` (a list of lists), ``base_period``, ``anticipation``, ``bootstrap``,
        ``cluster``, ``inference`` (TWFE), ``event_window``. Without it the grid only
        measures. Options an estimator does not use are dropped from its specifications
        (so TWFE is fitted once however many ``method`` values are listed); combinations
        an estimator cannot run are listed in ``skipped``.
    mode : "full" or "one_at_a_time"
        ``full``: the cross product of all values (measurement × estimation);
        ``one_at_a_time``: the base specification, then each option's other values with
        every other option at its base value.
    base : {"measure": {...}, "estimate": {...}}, optional
        The base specification; defaults are the run configuration's defaults
        (the study's gross view; Callaway–Sant'Anna on the support share).
    years : (first, last), optional
        Years of the headline share (default: every year of ``financials``).
    firms : firm codes, optional
        Firms of the headline share (default: the firms ever certified in ``tier``, or
        every firm when there is no designations table).
    cohorts : years, optional
        Instead of ``firms``: the firms first certified in these years (the run's
        ``shares.headline_cohorts``; the study's headline is cohorts 2019 and 2020).
    tier, seed, alpha
        Certification tier defining treatment; the run seed from which each
        specification's seed is derived (sha256 of the seed and the canonical options,
        so results are the same under every scheduler and order); 1 − confidence level.
    scheduler : None, "sync", "local", an address ("tcp://host:8786") or a dask.distributed Client
        ``None``: a local Dask cluster with one worker process per core when
        ``dask.distributed`` is installed, else this process (said once).
    progress : Progress or bool, optional
        Progress display (done / total, elapsed, time left); ``False`` for none.

    Returns
    -------
    SensitivityResult
        ``tidy()``, ``summary()``, ``headline_range()``, ``effect_range()``, ``plot()``.

    Notes
    -----
    The effect compared across estimators is one number per specification (see
    :func:`finsupport.sensitivity.evaluate.overall_effect`): the TWFE coefficient, the
    mean post-designation event-study coefficient, the simple Callaway–Sant'Anna
    aggregation, or the overall ATT of Sun–Abraham and the imputation estimator.
    """
    from ..data.dataset import Dataset

    if not isinstance(data, Dataset):
        raise ConfigError(f"sensitivity needs a Dataset (fs.read_dataset or fs.load_example), got {type(data).__name__}")
    base = dict(base or {})
    unknown = set(base) - {"measure", "estimate"}
    if unknown:
        raise ConfigError(f"sensitivity: base has unknown section(s) {sorted(unknown)}; use 'measure' and 'estimate'")
    bm = base_measure(base.get("measure"))
    be = base_estimate(base.get("estimate")) if (estimate or base.get("estimate")) else None
    specs, skipped = build_specs(measure=measure, estimate=estimate, mode=mode, base_measure_options=bm,
                                 base_estimate_options=be, seed=seed)
    if not specs:
        raise ConfigError("sensitivity: no specification can run; see the reasons: "
                          + "; ".join(sorted({s["reason"] for s in skipped})))
    fin = data.require("financials", ["firm_id", "year", "revenue"], purpose="the sensitivity grid")
    from ..estimate.panel import check_financial_outcomes

    check_financial_outcomes([s.estimate_options["outcome"] for s in specs if s.estimate is not None], data,
                             key="sensitivity.estimate.outcome")
    yrs = tuple(years) if years else (int(fin["year"].min()), int(fin["year"].max()))
    firm_index, who = _headline_firms(data, firms, cohorts, tier)
    prog = progress if isinstance(progress, Progress) else Progress(enabled=progress is not False and progress is not None)
    mrows, erows, described = run_specs(specs, data, scheduler=scheduler, years=yrs, firms=firm_index, tier=tier,
                                        alpha=alpha, progress=prog)
    table = _table(specs, mrows, erows, bm, be)
    varied = [k for k in [*MEASURE_OPTIONS, *ESTIMATE_OPTIONS]
              if k in table and table[k].dropna().astype(str).nunique() > 1]
    return SensitivityResult(table=table, varied=varied, mode=mode, scheduler=described,
                             skipped=pd.DataFrame(skipped), years=yrs, firms=who, alpha=alpha)


def _headline_firms(data, firms, cohorts, tier) -> tuple[pd.Index | None, str]:
    if firms is not None and cohorts:
        raise ConfigError("sensitivity: give firms or cohorts, not both")
    if firms is not None:
        return pd.Index([str(f) for f in firms]), f"{len(firms)} firms given"
    if data.designations is None or not len(data.designations):
        return None, "all firms"
    from ..certify.status import designation_status

    # the run's headline definition: firms whose cohort (first award in the tier) is set
    status = designation_status(data, tier=tier)
    coh = status.groupby("firm_id")["cohort"].max()
    tier_words = tier.replace("_", " ")
    if cohorts:
        sel = coh[coh.isin(list(cohorts))]
        return (pd.Index(sel.index.astype(str)),
                f"{len(sel)} firms first certified ({tier_words}) in {', '.join(map(str, cohorts))}")
    sel = coh[coh > 0]
    return pd.Index(sel.index.astype(str)), f"{len(sel)} firms certified ({tier_words})"


def _table(specs: list[Spec], mrows, erows, bm, be) -> pd.DataFrame:
    from .specs import _relevant

    base_m = tuple(sorted(bm.items()))
    base_e = None if be is None else _relevant(be)
    recs = []
    for s, m, e in zip(specs, mrows, erows, strict=True):
        r: dict[str, Any] = {"spec": s.key, "varied": s.varied,
                             "is_base": s.measure == base_m and s.estimate == base_e}
        r.update({k: _cell(v) for k, v in s.measure})
        if s.estimate is not None:
            r.update({k: _cell(v) for k, v in s.estimate})
        r.update(m)
        if e is not None:
            r.update(e)
        r["seed"] = s.seed
        recs.append(r)
    t = pd.DataFrame.from_records(recs)
    first = ["spec", "varied", "is_base", *[k for k in MEASURE_OPTIONS if k in t],
             *[k for k in ESTIMATE_OPTIONS if k in t]]
    return t[first + [c for c in t.columns if c not in first]]


def _cell(v: Any) -> Any:
    """Option values as table cells: lists become comma-joined text (covariates, investor types)."""
    if isinstance(v, tuple | list):
        return ", ".join(map(str, v)) if v else "(none)"
    return v
