"""Time finsupport's estimators against peers on the same data, in one run.

* ``att_gt`` (fit and overall ATT) in four configurations — doubly robust with one
  covariate and outcome regression without covariates, each with 999 multiplier bootstrap
  draws and with analytic standard errors — never-treated controls, on 100,000 firms × 10
  years, against diff-diff's ``CallawaySantAnna`` (and csdid's ``ATTgt`` for the first);
  then as a run uses it: doubly robust with the bootstrap and every aggregation, against
  diff-diff with ``aggregate="all"``;
* ``twfe_did``: firm and year effects, standard errors clustered by firm, on 1,000,000
  firm-years — against pyfixest's ``feols``;
* ``sun_abraham``: interaction-weighted event study with never-treated controls, clustered
  by firm — against diff-diff's ``SunAbraham`` and pyfixest's saturated event study;
* ``imputation_did``: Borusyak–Jaravel–Spiess ATT and horizon effects with conservative
  standard errors — against diff-diff's ``ImputationDiD`` and pyfixest's ``did2s`` (Gardner's
  two-stage estimator, the same ATT point estimate).

Every estimator and peer runs once on a small panel before anything is timed (imports,
numba and Rust kernels warmed up); ``--no-warmup`` times them cold. Peers are an optional
extra: ``pip install -e ".[peers]"``; a missing peer is reported and skipped. Run:
python benchmarks/bench_estimators.py [--firms 100000] [--only att_gt]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from finsupport.estimate.bacon import bacon_decomposition
from finsupport.estimate.cs_core import att_gt
from finsupport.estimate.event_study import event_study
from finsupport.estimate.imputation import imputation_did
from finsupport.estimate.panel import analysis_panel
from finsupport.estimate.sun_abraham import sun_abraham
from finsupport.estimate.twfe import twfe_did
from finsupport.simulate import simulate


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def make_panel(n_firms: int, seed: int = 1) -> pd.DataFrame:
    data = simulate(n_firms=n_firms, years=(2013, 2022), seed=seed,
                    cohorts={2016: 0.1, 2018: 0.1, 2020: 0.1})
    p = analysis_panel(data)
    p["unit"] = p["firm_id"].astype(np.int64)  # peers want numeric unit ids
    return p[["unit", "year", "cohort", "treated", "share", "log_revenue_pre"]]


#: att_gt configurations timed against the peers: (estimation method, covariates, bootstrap draws or 0)
#: interleaved repetitions of each att_gt configuration (medians reported); --repeat
REPEAT = 3
ATT_GT_CONFIGS = (("dr", ["log_revenue_pre"], True), ("reg", [], True), ("reg", [], False), ("dr", ["log_revenue_pre"], False))


def bench_att_gt(p: pd.DataFrame, draws: int, *, csdid: bool = True) -> None:
    for method, cov, boot in ATT_GT_CONFIGS:
        _bench_att_gt_one(p, method, cov, draws if boot else 0, csdid=csdid and method == "dr" and boot)
    _bench_att_gt_aggregations(p, draws)


def _bench_att_gt_aggregations(p: pd.DataFrame, draws: int) -> None:
    """As a run estimates: the fit with the bootstrap and then its aggregations (finsupport: simple, group,
    dynamic, calendar; diff-diff: simple, group and event study, after the fit or with ``aggregate="all"``)."""
    print(f"\natt_gt, doubly robust, no covariates, never-treated controls, {draws} bootstrap draws, "
          f"{p['unit'].nunique():,} firms × {p['year'].nunique()} years (fit and every aggregation)")

    def fit_ours():
        r = att_gt(p, outcome="share", unit="unit", time="year", cohort="cohort", control_group="never_treated",
                   method="dr", bootstrap=draws or None, seed=1)
        return r, {k: r.aggregate(k) for k in ("simple", "group", "dynamic", "calendar")}

    try:
        from diff_diff import CallawaySantAnna
    except ImportError:
        print("  diff-diff   not installed (pip install -e '.[peers]')")
        return

    def fit_dd():
        cs = CallawaySantAnna(control_group="never_treated", estimation_method="dr", n_bootstrap=draws, seed=1)
        res = cs.fit(p, outcome="share", unit="unit", time="year", first_treat="cohort")
        if hasattr(res, "aggregate"):  # diff-diff ≥ 3: aggregations after the fit
            for kind in ("simple", "group", "event_study"):
                res.aggregate(kind)
            return res
        return cs.fit(p, outcome="share", unit="unit", time="year", first_treat="cohort", aggregate="all")

    t_o, t_d = [], []
    for _ in range(REPEAT):
        (_, aggs), t = _timed(fit_ours)
        t_o.append(t)
        theirs, t = _timed(fit_dd)
        t_d.append(t)
    t_ours, t_dd = float(np.median(t_o)), float(np.median(t_d))
    print(f"  finsupport  {t_ours:8.2f} s   dynamic overall {aggs['dynamic'].overall_att:.6f} "
          f"(SE {aggs['dynamic'].overall_se:.6f}){f'   (median of {REPEAT})' if REPEAT > 1 else ''}")
    print(f"  diff-diff   {t_dd:8.2f} s   overall ATT {getattr(theirs, 'overall_att', float('nan')):.6f}")
    print(f"  ratio finsupport / diff-diff = {t_ours / t_dd:.2f} (target ≤ 1.00)")


def _bench_att_gt_one(p: pd.DataFrame, method: str, cov: list[str], draws: int, *, csdid: bool) -> None:
    label = {"dr": "doubly robust", "reg": "outcome regression"}[method]
    print(f"\natt_gt, {label}, {'covariate ' + ', '.join(cov) if cov else 'no covariates'}, never-treated "
          f"controls, {f'{draws} bootstrap draws' if draws else 'analytic standard errors'}, "
          f"{p['unit'].nunique():,} firms × {p['year'].nunique()} years (fit and overall ATT)")

    def fit_ours():
        r = att_gt(p, outcome="share", unit="unit", time="year", cohort="cohort", covariates=cov,
                   control_group="never_treated", method=method, bootstrap=draws or None, seed=1)
        return r, r.aggregate("simple")

    try:
        from diff_diff import CallawaySantAnna
    except ImportError:
        CallawaySantAnna = None

    def fit_dd():
        cs = CallawaySantAnna(control_group="never_treated", estimation_method=method, n_bootstrap=draws, seed=1)
        return cs.fit(p, outcome="share", unit="unit", time="year", first_treat="cohort", covariates=cov or None)

    # interleaved runs, medians: the machine's load moves both alike
    t_o, t_d = [], []
    for _ in range(REPEAT):
        (ours, simple), t = _timed(fit_ours)
        t_o.append(t)
        if CallawaySantAnna is not None:
            theirs, t = _timed(fit_dd)
            t_d.append(t)
    t_ours = float(np.median(t_o))
    print(f"  finsupport  {t_ours:8.2f} s   simple ATT {simple.overall_att:.6f} (SE {simple.overall_se:.6f})"
          f"{f'   (median of {REPEAT})' if REPEAT > 1 else ''}")
    if CallawaySantAnna is None:
        print("  diff-diff   not installed (pip install -e '.[peers]')")
    else:
        t_dd = float(np.median(t_d))
        dd_att = getattr(theirs, "overall_att", float("nan"))
        gt = ours.cells.set_index(["cohort", "time"])["att"]
        dd_gt = pd.Series({(g, t): v["effect"] for (g, t), v in theirs.group_time_effects.items()})
        common = gt.index.intersection(dd_gt.index)
        diff = float(np.max(np.abs(gt.loc[common].to_numpy() - dd_gt.loc[common].to_numpy()))) if len(common) else np.nan
        print(f"  diff-diff   {t_dd:8.2f} s   overall ATT {dd_att:.6f}; max |ATT(g,t) difference| {diff:.2e}")
        print(f"  ratio finsupport / diff-diff = {t_ours / t_dd:.2f} (target ≤ 1.00)")
    if not csdid:
        return
    try:
        from csdid.att_gt import ATTgt
    except ImportError:
        print("  csdid       not installed (pip install -e '.[peers]')")
    else:
        _, t_cs = _timed(lambda: ATTgt(yname="share", tname="year", idname="unit", gname="cohort", data=p,
                                       xformla="share~log_revenue_pre", biters=draws).fit(est_method="dr"))
        print(f"  csdid       {t_cs:8.2f} s")
        print(f"  ratio finsupport / csdid = {t_ours / t_cs:.2f}")


def warm_up(n_firms: int = 2_000) -> None:
    """Run every estimator and peer once on a small panel, so imports, compiled kernels (numba, Rust)
    and caches are ready before anything is timed."""
    import contextlib
    import io
    import warnings

    p = make_panel(n_firms, seed=2)
    t0 = time.perf_counter()
    global REPEAT
    repeat, REPEAT = REPEAT, 1
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        bench_att_gt(p, 99, csdid=True)
        for fn in (bench_twfe, bench_event_study, bench_bacon, bench_sun_abraham, bench_imputation):
            with contextlib.suppress(Exception):
                fn(p)
    REPEAT = repeat
    print(f"warm-up: every estimator and peer run once on {n_firms:,} firms ({time.perf_counter() - t0:.1f} s)")


def bench_twfe(p: pd.DataFrame) -> None:
    print(f"\ntwfe_did on {len(p):,} rows, firm and year effects, clustered by firm")
    ours, t_ours = _timed(lambda: twfe_did(p, outcome="share", treatment="treated", unit="unit", time="year"))
    b = float(ours.params["treated"])
    print(f"  finsupport  {t_ours:8.2f} s   coef {b:.6f} (SE {float(ours.std_errors['treated']):.6f})")
    try:
        import pyfixest as pf
    except ImportError:
        print("  pyfixest    not installed (pip install -e '.[peers]')")
        return
    fit, t_pf = _timed(lambda: pf.feols("share ~ treated | unit + year", data=p, vcov={"CRV1": "unit"}))
    print(f"  pyfixest    {t_pf:8.2f} s   coef {fit.coef()['treated']:.6f} (SE {fit.se()['treated']:.6f})")
    print(f"  ratio finsupport / pyfixest = {t_ours / t_pf:.2f} (target ≤ 1.00)")


def bench_event_study(p: pd.DataFrame) -> None:
    """The run's event study: event time binned at −4 and 4, reference −1, firm and year effects,
    clustered by firm; pyfixest fits the same regression (the binned dummies, never-treated firms
    at the reference), so the coefficients agree."""
    import warnings

    print(f"\nevent_study on {len(p):,} rows, window [-4, 4], reference -1, firm and year effects, clustered by firm")
    ours, t_ours = _timed(lambda: event_study(p, outcome="share", unit="unit", time="year", cohort="cohort",
                                              window=(-4, 4)))
    b = float(ours.tidy().set_index("term").loc["e=0", "estimate"])
    print(f"  finsupport  {t_ours:8.2f} s   e=0 {b:.6f}")
    peers: dict[str, float] = {}
    try:
        import pyfixest as pf
    except ImportError:
        print("  pyfixest    not installed (pip install -e '.[peers]')")
    else:
        q = p.assign(rel=np.where(p["cohort"] > 0, np.clip(p["year"] - p["cohort"], -4, 4), -1))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit, t_pf = _timed(lambda: pf.feols("share ~ i(rel, ref=-1) | unit + year", data=q,
                                                vcov={"CRV1": "unit"}))
        coef = fit.coef()
        b_pf = float(coef[[k for k in coef.index if k.endswith("::0") or k.endswith("[T.0]")][0]])
        print(f"  pyfixest    {t_pf:8.2f} s   e=0 {b_pf:.6f}; |difference| {abs(b_pf - b):.1e}")
        peers["pyfixest"] = t_pf
    _ratios(t_ours, peers)


def bench_bacon(p: pd.DataFrame) -> None:
    print(f"\nbacon_decomposition (Goodman-Bacon), {p['unit'].nunique():,} firms × {p['year'].nunique()} years")
    ours, t_ours = _timed(lambda: bacon_decomposition(p, outcome="share", unit="unit", time="year", cohort="cohort"))
    print(f"  finsupport  {t_ours:8.2f} s   TWFE {ours.twfe_estimate:.6f}")
    peers: dict[str, float] = {}
    try:
        from diff_diff import BaconDecomposition
    except ImportError:
        print("  diff-diff   not installed (pip install -e '.[peers]')")
    else:
        dd, t_dd = _timed(lambda: BaconDecomposition(weights="exact").fit(p, outcome="share", unit="unit",
                                                                          time="year", first_treat="cohort"))
        b = float(dd.twfe_estimate)
        print(f"  diff-diff   {t_dd:8.2f} s   TWFE {b:.6f}; |difference| {abs(b - ours.twfe_estimate):.1e}")
        peers["diff-diff"] = t_dd
    _ratios(t_ours, peers)


def _ratios(t_ours: float, peers: dict[str, float]) -> None:
    for name, t in peers.items():
        print(f"  ratio finsupport / {name} = {t_ours / t:.2f}")
    if peers:
        print(f"  ratio finsupport / fastest peer = {t_ours / min(peers.values()):.2f} (target ≤ 1.00)")


def bench_sun_abraham(p: pd.DataFrame) -> None:
    import warnings

    print(f"\nsun_abraham, never-treated controls, clustered by firm, {p['unit'].nunique():,} firms × "
          f"{p['year'].nunique()} years")
    ours, t_ours = _timed(lambda: sun_abraham(p, outcome="share", unit="unit", time="year", cohort="cohort"))
    print(f"  finsupport  {t_ours:8.2f} s   ATT {ours.att:.6f} (SE {ours.std_errors['ATT']:.6f}), "
          f"{len(ours.cohort_effects)} cohort effects")
    peers: dict[str, float] = {}
    try:
        from diff_diff import SunAbraham
    except ImportError:
        print("  diff-diff   not installed (pip install -e '.[peers]')")
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dd, t_dd = _timed(lambda: SunAbraham().fit(p, outcome="share", unit="unit", time="year",
                                                      first_treat="cohort"))
        diff = max(abs(v["effect"] - ours.params[f"e={e}"]) for e, v in dd.event_study_effects.items())
        print(f"  diff-diff   {t_dd:8.2f} s   ATT {dd.overall_att:.6f}; max |IW coefficient difference| {diff:.1e}")
        peers["diff-diff"] = t_dd
    try:
        import pyfixest as pf
    except ImportError:
        print("  pyfixest    not installed (pip install -e '.[peers]')")
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, t_pf = _timed(lambda: pf.event_study(p, yname="share", idname="unit", tname="year", gname="cohort",
                                                    estimator="saturated", att=False))
        print(f"  pyfixest    {t_pf:8.2f} s   (saturated event study, cohort × event-time coefficients)")
        peers["pyfixest"] = t_pf
    _ratios(t_ours, peers)


def bench_imputation(p: pd.DataFrame) -> None:
    import warnings

    print(f"\nimputation_did (Borusyak–Jaravel–Spiess), ATT and horizons, conservative SEs, "
          f"{p['unit'].nunique():,} firms × {p['year'].nunique()} years")
    ours, t_ours = _timed(lambda: imputation_did(p, outcome="share", unit="unit", time="year", cohort="cohort"))
    print(f"  finsupport  {t_ours:8.2f} s   ATT {ours.att:.6f} (SE {ours.std_errors['ATT']:.6f})")
    peers: dict[str, float] = {}
    try:
        from diff_diff import ImputationDiD
    except ImportError:
        print("  diff-diff   not installed (pip install -e '.[peers]')")
    else:
        def fit_dd():
            r = ImputationDiD().fit(p, outcome="share", unit="unit", time="year", first_treat="cohort")
            return r, r.aggregate("event_study")

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            (dd, _), t_dd = _timed(fit_dd)
        print(f"  diff-diff   {t_dd:8.2f} s   ATT {dd.overall_att:.6f} (SE {dd.overall_se:.6f}); "
              f"|ATT difference| {abs(dd.overall_att - ours.att):.1e}")
        peers["diff-diff"] = t_dd
    try:
        import pyfixest as pf
    except ImportError:
        print("  pyfixest    not installed (pip install -e '.[peers]')")
    else:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit, t_pf = _timed(lambda: pf.event_study(p, yname="share", idname="unit", tname="year",
                                                          gname="cohort", estimator="did2s", att=True))
        except (MemoryError, ValueError) as exc:  # did2s builds a dense unit-dummy matrix for its vcov
            print(f"  pyfixest    failed: {type(exc).__name__}: {str(exc)[:90]}")
        else:
            b = float(fit.coef().iloc[0])
            print(f"  pyfixest    {t_pf:8.2f} s   did2s ATT {b:.6f}; |ATT difference| {abs(b - ours.att):.1e}")
            peers["pyfixest"] = t_pf
    _ratios(t_ours, peers)


def main() -> None:
    import warnings

    warnings.filterwarnings("ignore", category=UserWarning, module="diff_diff")
    ap = argparse.ArgumentParser()
    ap.add_argument("--firms", type=int, default=100_000)
    ap.add_argument("--draws", type=int, default=999)
    ap.add_argument("--only", choices=["att_gt", "twfe", "event_study", "bacon", "sun_abraham", "imputation"],
                    default=None)
    ap.add_argument("--no-warmup", action="store_true", help="time cold (imports and compilation included)")
    ap.add_argument("--repeat", type=int, default=REPEAT, help="interleaved att_gt repetitions (median)")
    args = ap.parse_args()
    globals()["REPEAT"] = max(1, args.repeat)
    if not args.no_warmup:
        warm_up()
    p, t = _timed(lambda: make_panel(args.firms))
    print(f"panel: {len(p):,} firm-years built in {t:.1f} s")
    if args.only in (None, "att_gt"):
        bench_att_gt(p, args.draws)
    if args.only in (None, "twfe"):
        bench_twfe(p)
    if args.only in (None, "event_study"):
        bench_event_study(p)
    if args.only in (None, "bacon"):
        bench_bacon(p)
    if args.only in (None, "sun_abraham"):
        bench_sun_abraham(p)
    if args.only in (None, "imputation"):
        bench_imputation(p)


if __name__ == "__main__":
    main()
