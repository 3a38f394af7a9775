"""Aggregation of support flows into shares of revenue."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..data.arrow_text import isin_values
from ..errors import DataError
from .flows import COMPONENTS

__all__ = ["support_share", "share_tables", "share_components", "with_status", "SHARE_COLUMNS"]

SHARE_COLUMNS = ["component", "pooled_share", "mean_firm_share", "median_firm_share", "amount", "revenue",
                 "n_firms", "n_firm_years", "n_excluded_firm_years"]


def share_components(flows: pd.DataFrame, components: Sequence[str] | None = None, *,
                     extended: bool = False) -> list[str]:
    """The component rows of a shares table: the flows' total components and ``total``, then the extended view."""
    if components is None:
        inner = list(flows.attrs.get("components") or COMPONENTS)
        components = [*inner, "total"]
        if extended and "total_extended" in flows.columns:
            extra = [c for c in flows.attrs.get("all_components", []) if c not in inner and c in flows.columns]
            components += [*extra, "total_extended"]
    return list(components)


def support_share(
    flows: pd.DataFrame,
    *,
    by: str | Sequence[str] | None = None,
    years: Iterable[int] | tuple[int, int] | None = None,
    firms: Iterable[str] | None = None,
    status: pd.DataFrame | None = None,
    components: Sequence[str] | None = None,
    extended: bool = False,
) -> pd.DataFrame:
    """Support as a share of revenue, aggregated, with the counts behind each figure.

    For each group (``by``) and component c ∈ {subsidy, equity, debt, total}:

    * ``pooled_share`` = Σ_{i,t} c_it / Σ_{i,t} revenue_it (the aggregate ratio: large
      firms weigh more; this is the figure of the published study's headline);
    * ``mean_firm_share`` and ``median_firm_share`` of the firm ratios
      r_i = Σ_t c_it / Σ_t revenue_it over the firm's years in the group (every firm
      weighs the same);
    * ``amount`` and ``revenue`` (yuan), ``n_firms``, ``n_firm_years``.

    Firm-years with zero, negative or missing revenue have no defined share; they are
    left out of every figure and counted in ``n_excluded_firm_years``.

    Parameters
    ----------
    flows : DataFrame
        Output of :func:`support_flows`.
    by : str or list of str, optional
        Grouping columns of ``flows`` (e.g. ``"year"``, ``"sector"``) or of ``status``
        (e.g. ``"ever"``, ``"active"``, ``"cohort"``). With ``"year"`` the firm ratio is
        the firm-year share.
    years : iterable of int or (first, last), optional
        Years to include; a 2-tuple is an inclusive range.
    firms : iterable of firm codes, optional
        Firms to include.
    status : DataFrame, optional
        Firm-year certification status (``designation_status``), merged on firm and
        year so that ``by`` can name its columns.
    components : sequence of str, optional
        Columns to report; default the components in the flows' total
        (``flows.attrs["components"]``, the study's subsidy, equity, debt when absent)
        and ``total``.
    extended : bool
        Also report the other measured components (of tax, land …) and
        ``total_extended`` (all five components): the extended view beside the
        headline's.

    Returns
    -------
    Tidy DataFrame: the ``by`` columns, then ``SHARE_COLUMNS``; one row per group and
    component. ``attrs["components"]`` lists the component rows in order.

    Notes
    -----
    Precision of the sums (ε = 2⁻⁵³): each firm's Σ_t in a group is Kahan-compensated in
    row order (error about 2ε·Σ|x|), or numpy's pairwise sum when the rows are already in
    (group, firm) order and no amount is missing (error about T·ε·Σ|x| over T years); each
    group's Σ is numpy's pairwise sum of its firms' sums in firm order (error of order
    log₂(n)·ε·Σ|x| over n firms); the mean firm share is that pairwise sum over the count;
    the median is exact. The figures are the same bit for bit as summing with pandas'
    ``groupby`` in that way (``tests/test_shares_exact.py``); they are not correctly
    rounded sums, so reordering the rows can move the last bits.
    """
    if type(flows).__module__.startswith("dask"):
        # registry scale: flows of a PartitionedDataset, reduced across firm partitions
        from ..data.partitioned import partitioned_share

        comps = share_components(flows._meta, components, extended=extended)   # the layout's attrs
        out = partitioned_share(flows, by=by, years=years, firms=firms, status=status, components=comps)
        out.attrs["components"] = list(comps)
        return out
    by = [by] if isinstance(by, str) else list(by or [])
    components = share_components(flows, components, extended=extended)
    df = flows if status is None else with_status(flows, status)
    _check_columns(df, by, components)
    keep = _selection(df, years, firms)
    if "firm_id" in by:
        return _shares_by_pandas(df if keep is None else df[keep], by, components)
    if keep is not None:   # a table of a few rows (the headline firms): only their rows and the columns used
        df, keep = df.loc[keep, list(dict.fromkeys(["firm_id", *by, *components, "revenue"]))], None
    return _share_table(df, _ShareRows(df, components), by, keep, components)


def share_tables(flows: pd.DataFrame, tables: Mapping[str, Mapping], *, status: pd.DataFrame | None = None,
                 extended: bool = False) -> dict[str, pd.DataFrame]:
    """Several share tables of one flows table, each equal bit for bit to its :func:`support_share`.

    Parameters
    ----------
    flows : DataFrame
        Output of :func:`~finsupport.measure.flows.support_flows`.
    tables : mapping of name -> options
        The keyword options of each table: ``by``, ``years``, ``firms``, ``components``,
        and ``status=True`` for a table grouped by columns of ``status``.
    status : DataFrame, optional
        Firm-year certification status, attached once (:func:`with_status`) for the
        tables that ask for it.
    extended : bool
        As in :func:`support_share`, for every table.

    Returns
    -------
    dict of name -> DataFrame, as :func:`support_share` returns each table. The firm codes
    and the block of amounts are prepared once for all the tables (on a frame with the
    flows' rows), not once per table.
    """
    specs = {k: dict(v) for k, v in tables.items()}
    wants = {k for k, v in specs.items() if v.pop("status", False)}
    if wants and status is None:
        raise DataError(problems=[{"table": "status", "message": f"the share tables {sorted(wants)} group by "
                                   "certification status, but no status was given",
                                   "hint": "pass status= (designation_status)"}])
    if type(flows).__module__.startswith("dask"):
        return {k: support_share(flows, status=status if k in wants else None, extended=extended, **v)
                for k, v in specs.items()}
    joined = with_status(flows, status) if wants else None
    # a status with one row per firm-year leaves the flows' rows as they are: one frame for every table
    same = joined is not None and len(joined) == len(flows)
    # each table's components as support_share finds them on the frame it is given
    comps = {k: share_components(joined if k in wants else flows, v.get("components"), extended=extended)
             for k, v in specs.items()}
    prepared: dict[bool, _ShareRows] = {}
    out = {}
    for name, opts in specs.items():
        on_status = name in wants
        by = opts.get("by")
        by = [by] if isinstance(by, str) else list(by or [])
        # a table without status= sees only the flows' columns, as support_share(flows) does
        _check_columns(flows if not on_status else joined, by, comps[name])
        df = joined if (on_status or same) else flows
        if "firm_id" in by:
            out[name] = support_share(df, by=by, years=opts.get("years"), firms=opts.get("firms"),
                                      components=comps[name])
            continue
        frame_key = on_status and not same
        if frame_key not in prepared:
            needed = list(dict.fromkeys(c for k in specs for c in comps[k]))
            prepared[frame_key] = _ShareRows(df, needed)
        out[name] = _share_table(df, prepared[frame_key], by, _selection(df, opts.get("years"), opts.get("firms")),
                                 comps[name])
    return out


def _check_columns(df: pd.DataFrame, by: list[str], components: Sequence[str]) -> None:
    missing = [c for c in [*by, *components, "revenue", "firm_id"] if c not in df.columns]
    if missing:
        raise DataError(problems=[{"table": "flows", "column": c, "message": "column not found",
                                   "hint": "group by a column of the flows table or pass status= (designation_status)"}
                                  for c in missing])


def _selection(df: pd.DataFrame, years, firms) -> np.ndarray | None:
    """The rows of ``df`` in ``years`` and ``firms`` as a mask (None: every row); no column is copied."""
    keep = None
    if years is not None:
        yr = df["year"]
        keep = (yr.between(years[0], years[1]) if isinstance(years, tuple) and len(years) == 2
                else yr.isin(list(years))).to_numpy(dtype=bool)
    if firms is not None:
        inside = np.asarray(isin_values(df["firm_id"], pd.Index(list(firms)).astype(str)), dtype=bool)
        keep = inside if keep is None else keep & inside
    return keep


class _ShareRows:
    """What every share table of one frame needs, prepared once: each row's firm as an integer
    (numbered in order of first appearance, as ``_codes`` numbers them), whether the firms' rows
    are contiguous, the amounts as one block (a row of the block per column, C order) and the
    rows with a share (revenue > 0)."""

    def __init__(self, df: pd.DataFrame, columns: Sequence[str]):
        self.columns = [*columns, "revenue"]
        self.index = {c: j for j, c in enumerate(self.columns)}
        self.firm = _codes(df["firm_id"])
        self.n_codes = int(self.firm.max()) + 1 if len(self.firm) else 1
        # codes numbered by first appearance rise (weakly) along the rows exactly when every firm's rows
        # are together, as in support_flows' output
        self.contiguous = bool(len(self.firm) < 2 or (self.firm[1:] >= self.firm[:-1]).all())
        self.block = np.empty((len(self.columns), len(df)))
        for j, c in enumerate(self.columns):
            self.block[j] = df[c].to_numpy(dtype=float)
        self.valid = self.block[-1] > 0
        self._runs: tuple[np.ndarray, np.ndarray] | None = None
        #: each grouping column's sorted codes and values (``_sorted_codes``), for the tables that share it
        self.group_codes: dict[str, tuple[np.ndarray, object]] = {}

    def amounts(self, idx: list[int], take: np.ndarray, order: np.ndarray | None = None) -> np.ndarray:
        """The block's rows ``idx`` at the columns ``take`` (taken in ``order``), C order: one gather."""
        pos = take if order is None else take[order]
        if idx == list(range(len(self.columns))):
            return np.take(self.block, pos, axis=1)
        return self.block[np.ix_(idx, pos)]

    def run_sums(self, take: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """Kahan sums of every column over the firms' runs of the rows ``take`` (the same rows for the
        tables grouped by a firm's attribute over the same years: computed once for them)."""
        if self._runs is None or not np.array_equal(self._runs[0], take):
            self._runs = (take, _kahan_runs(self.block[:, take], starts))
        return self._runs[1]


def _share_table(df: pd.DataFrame, rows: _ShareRows, by: list[str], keep: np.ndarray | None,
                 components: Sequence[str]) -> pd.DataFrame:
    """One shares table from prepared rows (see :func:`support_share` for the figures).

    The sums are those of the earlier implementation on pandas' ``groupby(...).sum()``,
    reproduced operation for operation, so that every figure is the same to the last bit:

    * firm sums Σ_t (one per group and firm): when the rows are already in (group, firm)
      order and hold no missing amount, numpy's pairwise ``add.reduceat`` over each firm's
      run of rows; otherwise Kahan-compensated summation in row order, missing amounts
      skipped (pandas' ``group_sum``). Error at most about 2ε·Σ|x| (ε = 2⁻⁵³) for the
      compensated sums, and (with T years per firm) about T·ε·Σ|x| for the pairwise ones.
    * group sums from the firm sums, in firm-code order: numpy's pairwise
      ``add.reduceat`` (error of order log₂(n)·ε·Σ|x|; Kahan's when a firm sum is not a
      number);
    * mean of the firm ratios: the same pairwise sum divided by the count; median: the
      middle order statistic (mean of the two middle ones), exact.
    """
    valid = rows.valid if keep is None else rows.valid & keep
    excluded = ~rows.valid if keep is None else ~rows.valid & keep
    group, labels = _group_codes(df, by, rows.group_codes)
    n_groups = len(labels)
    take = np.flatnonzero(valid)
    gv, fv = group[take], rows.firm[take]
    idx = [*(rows.index[c] for c in components), len(rows.columns) - 1]
    nc = rows.n_codes
    key = gv * nc + fv
    # the amounts are gathered once, in the order the sums need them (not in row order first)
    firm_sums, pair_key = _firm_sums(lambda order=None: rows.amounts(idx, take, order), key, gv, fv,
                                     rows.contiguous, n_groups,
                                     firm_runs=lambda starts: rows.run_sums(take, starts)[idx])
    pair_group = pair_key // nc
    # pair_group rises along the pairs: each group's firms are one run
    g_starts = np.flatnonzero(np.r_[True, pair_group[1:] != pair_group[:-1]]) if len(pair_group) else \
        np.zeros(0, dtype=np.int64)
    present = pair_group[g_starts]
    sums = _run_sums(firm_sums, g_starts)
    k = len(components)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = firm_sums[:k] / firm_sums[k]
    sizes = np.diff(np.r_[g_starts, len(pair_group)])
    mean = _run_means(ratios, g_starts, sizes)
    median = _run_medians(ratios, pair_group, present, g_starts, sizes)
    n_fy = np.bincount(gv, minlength=n_groups)[present]
    n_f = np.bincount(pair_group, minlength=n_groups)[present]
    n_exc = np.bincount(group[excluded], minlength=n_groups)[present]
    keys = labels.iloc[present].reset_index(drop=True)
    rev = sums[k]
    out_rows = []
    for j, comp in enumerate(components):
        amt = sums[j]
        with np.errstate(divide="ignore", invalid="ignore"):
            pooled = amt / rev if by else np.where(rev > 0, amt / np.where(rev > 0, rev, 1), np.nan)
        res = pd.DataFrame({"component": comp, "pooled_share": pooled, "mean_firm_share": mean[j],
                            "median_firm_share": median[j], "amount": amt, "revenue": rev, "n_firms": n_f,
                            "n_firm_years": n_fy, "n_excluded_firm_years": n_exc})
        out_rows.append(pd.concat([keys, res], axis=1) if by else res)
    if not by and not len(present):  # no valid firm-year: one row per component, as the sums of nothing
        out_rows = [pd.DataFrame([{"component": comp, "pooled_share": np.nan, "mean_firm_share": np.nan,
                                   "median_firm_share": np.nan, "amount": 0.0, "revenue": 0.0, "n_firms": 0,
                                   "n_firm_years": 0, "n_excluded_firm_years": int(excluded.sum())}])
                    for comp in components]
    out = pd.concat(out_rows, ignore_index=True)
    for c in ("n_firms", "n_firm_years", "n_excluded_firm_years"):
        out[c] = out[c].astype(np.int64)
    out = out[[*by, *SHARE_COLUMNS]]
    out.attrs["components"] = list(components)
    out.attrs["ratio"] = "pooled_share = Σ support / Σ revenue; firm shares = Σ_t support_it / Σ_t revenue_it"
    return out


#: the longest run summed with vectorised Kahan steps (one numpy step per position in the run)
_KAHAN_MAX_RUN = 64


def _firm_sums(amounts, key: np.ndarray, gv: np.ndarray, fv: np.ndarray, contiguous: bool,
               n_groups: int, firm_runs=None) -> tuple[np.ndarray, np.ndarray]:
    """Σ over the rows of each (group, firm) pair, and the pairs' keys in ascending order.

    ``amounts(order=None)`` returns the amounts of the rows (one row of the result per column), in
    ``order`` when given; ``firm_runs(starts)``, when given, returns the Kahan sums over the firms'
    runs of rows (shared by the tables whose groups are attributes of the firm)."""
    if not len(key):
        return amounts(), key
    if (key[1:] >= key[:-1]).all():
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        vals = amounts()
        if not np.isnan(vals).any():
            return np.add.reduceat(vals, starts, axis=1), key[starts]
        return _kahan_runs(vals, starts), key[starts]
    if contiguous and firm_runs is not None and n_groups <= np.iinfo(np.int16).max:
        new_firm = fv[1:] != fv[:-1]
        if not ((gv[1:] != gv[:-1]) & ~new_firm).any():
            # the group does not change within a firm's rows: each pair is one firm's run of rows
            starts = np.flatnonzero(np.r_[True, new_firm])
            order = np.argsort(gv[starts].astype(np.int16), kind="stable")   # (group, firm) order
            return firm_runs(starts)[:, order], key[starts][order]
    # rows in (group, firm) order, each pair's rows in their order: with every firm's rows together
    # (firm codes rising), a stable sort on the group alone gives it (radix sort on small integers)
    if contiguous and n_groups <= np.iinfo(np.int16).max:
        order = np.argsort(gv.astype(np.int16), kind="stable")
    else:
        order = np.argsort(key, kind="stable")
    skey = key[order]
    starts = np.flatnonzero(np.r_[True, skey[1:] != skey[:-1]])
    if len(starts) == len(skey):   # one row per pair (by year): Kahan's first step, 0 + (v − 0), missing -> 0
        v = amounts(order)   # a fresh array: the step is done in place (0 + (v − 0) is v + 0: −0 becomes 0)
        np.add(v, 0.0, out=v)
        missing = np.isnan(v)
        if missing.any():
            v[missing] = 0.0
        return v, skey
    return _kahan_runs(amounts(order), starts), skey[starts]


def _kahan_runs(vals: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Kahan-compensated sum of each run of columns of ``vals`` (runs begin at ``starts``), the
    terms in column order, missing values skipped, a run of nothing 0: pandas' ``group_sum``,
    step for step, vectorised over the runs (one step per position within a run)."""
    n = vals.shape[1]
    lengths = np.diff(np.r_[starts, n])
    if len(lengths) and lengths.max() > _KAHAN_MAX_RUN:
        # long runs: pandas' own Kahan loop. A first row of a group of its own makes the labels
        # unsorted, so that pandas does not take numpy's pairwise sum for sorted groups instead.
        ids = np.r_[len(starts), np.repeat(np.arange(len(starts)), lengths)]
        padded = np.concatenate([np.zeros((vals.shape[0], 1)), vals], axis=1)
        return pd.DataFrame(padded.T, copy=False).groupby(ids).sum().to_numpy().T[:, :len(starts)]
    order = np.argsort(-lengths, kind="stable")   # longest first: the runs still open form a prefix
    st, ln = starts[order], lengths[order]
    s = np.zeros((vals.shape[0], len(st)))
    c = np.zeros_like(s)
    has_nan = bool(np.isnan(vals).any())
    # runs all of one length (a balanced panel): the p-th terms of the runs are a strided view
    grid = (vals.reshape(vals.shape[0], len(ln), int(ln[0])) if len(ln) and ln[-1] == ln[0] and starts[0] == 0
            else None)
    for p in range(int(ln[0]) if len(ln) else 0):
        m = int(np.searchsorted(-ln, -p, side="left"))   # runs longer than p
        v = grid[:, :, p] if grid is not None else vals[:, st[:m] + p]
        sm, cm = s[:, :m], c[:, :m]
        y = v - cm
        t = sm + y
        comp = (t - sm) - y
        comp[comp != comp] = 0.0   # inf - inf: pandas resets the compensation
        if has_nan:
            ok = ~np.isnan(v)
            s[:, :m] = np.where(ok, t, sm)
            c[:, :m] = np.where(ok, comp, cm)
        else:
            s[:, :m] = t
            c[:, :m] = comp
    out = np.empty_like(s)
    out[:, order] = s
    return out


def _run_sums(x: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Σ over each run of columns of ``x``: pairwise ``add.reduceat``, or pandas' Kahan sum when a
    value is not a number (pandas' choice for sorted groups)."""
    if not len(starts):
        return np.zeros((x.shape[0], 0))
    if np.isnan(x).any():
        ids = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, x.shape[1]]))
        return pd.DataFrame(x.T).groupby(ids).sum().to_numpy().T
    return np.add.reduceat(x, starts, axis=1)


def _run_means(x: np.ndarray, starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Mean over each run of columns of ``x``, skipping values that are not numbers (as pandas)."""
    if not len(starts):
        return np.zeros((x.shape[0], 0))
    if np.isnan(x).any():
        ids = np.repeat(np.arange(len(starts)), sizes)
        return pd.DataFrame(x.T).groupby(ids).mean().to_numpy().T
    return np.add.reduceat(x, starts, axis=1) / sizes.astype(np.float64)


def _padded_width(counts: np.ndarray) -> np.ndarray:
    """Each count rounded up to one of eight widths per power of two (at most an eighth of padding,
    few distinct widths), plus one when the padding would be odd."""
    c = np.maximum(counts, 1).astype(np.int64)
    step = np.left_shift(1, np.maximum(np.floor(np.log2(c)).astype(np.int64) - 3, 0))
    width = np.where(counts > 0, -(-c // step) * step, 0)
    return width + ((width - counts) % 2)


#: runs at least this long have their middle found in place (one ``partition`` per run); shorter
#: ones together in padded matrices
_MEDIAN_IN_PLACE = 2048


def _run_medians_complete(x: np.ndarray, starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """:func:`_run_medians` when every value is a number: every component's runs have the same sizes.

    A long run (a group of thousands of firms) is partitioned where it lies, without padding: the
    same order statistics, so the same figures."""
    k, n = x.shape
    out = np.empty((k, len(starts)))
    long_runs = np.flatnonzero(sizes >= _MEDIAN_IN_PLACE)
    for j in long_runs:   # one step per group, not per firm
        size = int(sizes[j])
        lo, hi = (size - 1) // 2, size // 2
        part = np.partition(x[:, starts[j]:starts[j] + size], [lo, hi] if hi != lo else [lo], axis=1)
        out[:, j] = part[:, lo] if lo == hi else (part[:, lo] + part[:, hi]) / 2
    if len(long_runs) == len(starts):
        return out
    run = np.repeat(np.arange(len(starts)), sizes)
    pos = np.arange(n) - np.repeat(starts, sizes)
    width = _padded_width(sizes)
    width[long_runs] = 0   # done above
    for w in np.unique(width[width > 0]):
        rw = np.flatnonzero(width == w)
        pad = (w - sizes[rw]) // 2
        mat = np.full((k, len(rw), w), np.inf)
        mat[:, np.arange(w)[None, :] < pad[:, None]] = -np.inf
        slot = np.full(len(starts), -1, dtype=np.int64)
        slot[rw] = np.arange(len(rw))
        cols = np.flatnonzero(np.repeat(width == w, sizes))
        r = slot[run[cols]]
        mat[:, r, pad[r] + pos[cols]] = x[:, cols]
        lo, hi = (w - 1) // 2, w // 2
        part = np.partition(mat, [lo, hi] if hi != lo else [lo], axis=2)
        out[:, rw] = part[:, :, lo] if lo == hi else (part[:, :, lo] + part[:, :, hi]) / 2
    return out


def _run_medians(x: np.ndarray, pair_group: np.ndarray, present: np.ndarray, starts: np.ndarray,
                 sizes: np.ndarray) -> np.ndarray:
    """Median over each run of columns of ``x``, skipping values that are not numbers: the middle
    order statistic, or the mean of the two middle ones (pandas' ``group_median``), exact.

    Each run is laid in a row of a matrix, padded on both sides with equally many −∞ and +∞ (so
    that the middle does not move), rows of like width together: ``numpy.partition`` then finds
    the middle of every run at once.
    """
    k, n = x.shape
    out = np.full((k, len(starts)), np.nan)
    if not n:
        return out
    if not np.isnan(x).any():
        return _run_medians_complete(x, starts, sizes)
    ok = ~np.isnan(x)
    run = np.repeat(np.arange(len(starts)), sizes)
    # position of each non-missing value among its run's non-missing values
    csum = np.cumsum(ok, axis=1)
    before = np.where(starts > 0, csum[:, np.maximum(starts - 1, 0)], 0)   # (k, runs)
    counts = csum[:, np.r_[starts[1:] - 1, n - 1]] - before
    pos = csum - 1 - before[:, run]
    # each (component, run) a row: width the next power of two at or above its count, plus one when
    # that makes the padding even on both sides
    cnt = counts.ravel()
    width = _padded_width(cnt)
    row_of = np.arange(k)[:, None] * len(starts) + run[None, :]   # (k, n): the row of each value
    for w in np.unique(width[cnt > 0]):
        rows_w = np.flatnonzero(width == w)
        slot = np.full(len(cnt), -1, dtype=np.int64)
        slot[rows_w] = np.arange(len(rows_w))
        mat = np.full((len(rows_w), w), np.inf)
        pad = (w - cnt[rows_w]) // 2
        left = np.arange(w)[None, :] < pad[:, None]
        mat[left] = -np.inf
        sel = ok & (slot[row_of] >= 0)
        r = slot[row_of[sel]]
        mat[r, pad[r] + pos[sel]] = x[sel]
        lo, hi = (w - 1) // 2, w // 2
        part = np.partition(mat, [lo, hi] if hi != lo else [lo], axis=1)
        med = part[:, lo] if lo == hi else (part[:, lo] + part[:, hi]) / 2
        out.ravel()[rows_w] = med
    return out


def with_status(flows: pd.DataFrame, status: pd.DataFrame) -> pd.DataFrame:
    """The flows with the certification-status columns they lack, for grouping share tables.

    Rule: a left join on (``firm_id``, ``year``): every flows row keeps its place and gains the
    status of its firm-year (missing where the status has none). With one status row per
    firm-year it is matched by integer position, otherwise by ``DataFrame.merge``.
    ``support_share(with_status(flows, status), by=…)`` equals
    ``support_share(flows, by=…, status=status)``: attach once for several tables.

    Parameters
    ----------
    flows : DataFrame
        Output of :func:`~finsupport.measure.flows.support_flows`.
    status : DataFrame
        Firm-year status (:func:`~finsupport.certify.status.designation_status`, or a
        subset of its columns with ``firm_id`` and ``year``).

    Returns
    -------
    DataFrame: the rows of ``flows`` in their order, with the columns of ``status`` that
    ``flows`` lacks, and the flows' ``attrs`` (their components).
    """
    extra = [c for c in status.columns if c not in flows.columns or c in ("firm_id", "year")]
    out = _attach(flows, status[extra])
    # the flows' declaration of their components (which enter the total, which the extended
    # view) goes with them: the tables of the joined frame have the flows' component rows
    out.attrs = dict(flows.attrs)
    return out


def _attach(df: pd.DataFrame, status: pd.DataFrame) -> pd.DataFrame:
    """``df.merge(status, on=["firm_id", "year"], how="left")``, matched on integer codes when the
    status has one row per firm-year (the rows of ``df`` keep their order and number)."""
    cols = [c for c in status.columns if c not in ("firm_id", "year")]
    if _same_firm_years(df, status):
        # designation_status' rows for support_flows' firm-years: row i is df's row i, nothing to look up
        return pd.concat([df.reset_index(drop=True), status[cols].reset_index(drop=True)], axis=1)
    key_df, key_st = _firm_year_keys(df, status)
    if key_df is None or pd.Index(key_st).has_duplicates:
        return df.merge(status, on=["firm_id", "year"], how="left")
    top = int(max(key_df.max(initial=0), key_st.max(initial=0))) + 1
    if top > 8 * (len(df) + len(status)) + 1024:  # keys too sparse for a table of positions
        add = status[cols].set_axis(pd.Index(key_st)).reindex(pd.Index(key_df))
    else:
        where = np.full(top, -1, dtype=np.int64)
        where[key_st] = np.arange(len(key_st))
        take = where[key_df]
        if (take < 0).any():  # firm-years without a status: missing values, typed as a merge types them
            add = status[cols].set_axis(pd.Index(key_st)).reindex(pd.Index(key_df))
        else:
            add = status[cols].iloc[take]
    return pd.concat([df.reset_index(drop=True), add.reset_index(drop=True)], axis=1)


def _same_firm_years(df: pd.DataFrame, status: pd.DataFrame) -> bool:
    """Whether ``status`` has ``df``'s firm-years row by row, each once: the same (firm, year) in every row,
    no value missing, the rows strictly rising in (firm, year) (so no firm-year twice). Then the
    integer-code match of :func:`_attach` takes every status row in place; this says so without hashing
    the firm codes. Only for pyarrow text codes (False otherwise: the general match decides)."""
    if len(df) != len(status) or len(df) < 2:
        return False
    a, b = (getattr(s.array, "_pa_array", None) for s in (df["firm_id"], status["firm_id"]))
    if a is None or b is None or a.null_count or b.null_count:
        return False
    if not (pd.api.types.is_integer_dtype(df["year"]) and pd.api.types.is_integer_dtype(status["year"])):
        return False
    if df["year"].hasnans or status["year"].hasnans:
        return False
    year = df["year"].to_numpy(dtype=np.int64)
    if not np.array_equal(year, status["year"].to_numpy(dtype=np.int64)):
        return False
    import pyarrow.compute as pc

    if b.type != a.type:
        b = b.cast(a.type)
    if not pc.all(pc.equal(a, b)).as_py():
        return False
    if pc.any(pc.less(a[1:], a[:-1])).as_py():
        return False
    same_firm = ~np.asarray(pc.not_equal(a[1:], a[:-1]), dtype=bool)
    return not (same_firm & (year[1:] <= year[:-1])).any()


def _firm_year_keys(df: pd.DataFrame, status: pd.DataFrame):
    """One integer per firm-year in both frames (same firm and year, same integer), or (None, None)."""
    if not (pd.api.types.is_integer_dtype(df["year"]) and pd.api.types.is_integer_dtype(status["year"])):
        return None, None
    if df["year"].isna().any() or status["year"].isna().any():
        return None, None
    if df["firm_id"].isna().any() or status["firm_id"].isna().any():
        return None, None
    codes, uniques = _codes(df["firm_id"], uniques=True)
    # a status firm that is not in df gets its own code (beyond df's), so that no two keys merge
    st = _positions(status["firm_id"], uniques)
    other = st < 0
    if other.any():
        st[other] = len(uniques) + pd.factorize(status["firm_id"][other])[0]
    codes = np.concatenate([codes, st]).astype(np.int64)
    years = np.concatenate([df["year"].to_numpy(dtype=np.int64), status["year"].to_numpy(dtype=np.int64)])
    lo = years.min() if len(years) else 0
    span = int(years.max() - lo + 1) if len(years) else 1
    key = codes * span + (years - lo)
    return key[: len(df)], key[len(df):]


def _positions(s: pd.Series, uniques) -> np.ndarray:
    """Position of each value of ``s`` among ``uniques`` (-1 where absent)."""
    arr = getattr(s.array, "_pa_array", None)
    if not isinstance(uniques, pd.Index):  # a pyarrow array (from _codes)
        import pyarrow.compute as pc

        if arr is not None:
            values = uniques if uniques.type == arr.type else uniques.cast(arr.type)
            return np.asarray(pc.fill_null(pc.index_in(arr, value_set=values), -1), dtype=np.int64)
        uniques = pd.Index(uniques.to_pylist(), dtype=object)
    return pd.Index(uniques).get_indexer(s.astype(object)).astype(np.int64)


def _codes(s: pd.Series, *, uniques: bool = False):
    """Integer codes of the values of ``s`` (equal values, equal codes; no missing values), with pyarrow's
    hash table for pyarrow text; and the distinct values in code order if ``uniques``."""
    arr = getattr(s.array, "_pa_array", None)
    if arr is not None and not uniques and len(arr) > 1 and not arr.null_count:
        import pyarrow.compute as pc

        # codes in sorted order (support_flows' rows): numbered by first appearance, a firm's code is
        # the number of changes of code before its first row
        if not pc.any(pc.less(arr[1:], arr[:-1])).as_py():
            new = np.asarray(pc.not_equal(arr[1:], arr[:-1]), dtype=bool)
            return np.concatenate([[0], np.cumsum(new, dtype=np.int64)])
    if arr is not None and len(arr):   # (pyarrow 14 cannot combine an empty dictionary array)
        enc = arr.dictionary_encode()
        enc = enc.combine_chunks() if hasattr(enc, "combine_chunks") else enc
        codes = np.asarray(enc.indices, dtype=np.int64)
        return (codes, enc.dictionary) if uniques else codes
    codes, u = pd.factorize(s)
    return (codes.astype(np.int64), pd.Index(u)) if uniques else codes.astype(np.int64)


def _group_codes(df: pd.DataFrame, by: list[str], cache: dict | None = None) -> tuple[np.ndarray, pd.DataFrame]:
    """Each row's group as an integer, groups numbered in ``groupby(by, sort=True, dropna=False)`` order,
    and the ``by`` values of each group (one row per code). ``cache`` keeps each column's codes for the
    next table of the same frame."""
    if not by:
        return np.zeros(len(df), dtype=np.int64), pd.DataFrame(index=range(1))
    codes, uniques = [], []
    for c in by:
        if cache is None or c not in cache:
            k, u = _sorted_codes(df[c])
            if cache is None:
                codes.append(k)
                uniques.append(u)
                continue
            cache[c] = (k, u)
        codes.append(cache[c][0])
        uniques.append(cache[c][1])
    sizes = [max(len(u), 1) for u in uniques]
    if len(by) == 1:
        # one column's sorted codes number its distinct values 0, 1, … and every code occurs:
        # factorize(sort=True) would give them back unchanged
        group, combos = codes[0], np.arange(len(uniques[0]), dtype=np.int64)
    else:
        flat = np.ravel_multi_index(codes, sizes)
        cells = int(np.prod(sizes, dtype=np.int64))
        if cells <= 4 * len(flat) + 1024:
            # factorize(sort=True) of small integers: the combinations present, ranked
            present = np.zeros(cells, dtype=bool)
            present[flat] = True
            combos = np.flatnonzero(present)
            group = (np.cumsum(present, dtype=np.int64) - 1)[flat]
        else:
            group, combos = pd.factorize(flat, sort=True)
    parts = np.unravel_index(np.asarray(combos), sizes) if len(by) > 1 else (np.asarray(combos),)
    labels = pd.DataFrame({c: uniques[j].take(parts[j]) for j, c in enumerate(by)})
    return np.asarray(group, dtype=np.int64), labels


def _runs(s: pd.Series) -> np.ndarray | None:
    """The first row of each run of equal values of pyarrow text (a missing value a run of its own),
    when there are at most half as many runs as rows (firm-by-firm rows): then an encoding of each
    run's first value, repeated over the run, gives what one of every row gives, for less (0.01-0.015 s
    instead of 0.025-0.04 s for a text column of a million rows). None otherwise."""
    arr = getattr(s.array, "_pa_array", None)
    if arr is None or len(arr) <= 64:
        return None
    import pyarrow.compute as pc

    change = np.asarray(pc.fill_null(pc.not_equal(arr[1:], arr[:-1]), True), dtype=bool)
    starts = np.flatnonzero(np.r_[True, change])
    return starts if 2 * len(starts) <= len(arr) else None


def _sorted_codes(s: pd.Series):
    """``pd.factorize(s, sort=True, use_na_sentinel=False)``, as int64 codes; for pyarrow text the rows
    are hashed by pyarrow and only the distinct values go through ``factorize``."""
    arr = getattr(s.array, "_pa_array", None)
    if isinstance(s.dtype, np.dtype) and s.dtype.kind == "i" and len(s):
        # integers over a short range (years, cohorts): which values occur, ranked; no hashing or sorting
        v = s.to_numpy()
        lo = int(v.min())
        span = int(v.max()) - lo + 1
        if span <= 4 * len(v) + 1024:
            at = v.astype(np.int64) - lo
            present = np.zeros(span, dtype=bool)
            present[at] = True
            rank = np.cumsum(present, dtype=np.int64) - 1
            return rank[at], pd.Index((np.flatnonzero(present) + lo).astype(s.dtype))
    if arr is None or not len(s):
        k, u = pd.factorize(s, sort=True, use_na_sentinel=False)
        return k.astype(np.int64), u
    starts = _runs(s)
    if starts is not None:
        # a firm's attribute on firm-by-firm rows (certified, sector): each run encoded once
        k, u = _sorted_codes(s.iloc[starts])
        return np.repeat(k, np.diff(np.r_[starts, len(s)])), u
    enc = arr.dictionary_encode(null_encoding="encode")
    enc = enc.combine_chunks() if hasattr(enc, "combine_chunks") else enc
    local = np.asarray(enc.indices, dtype=np.int64)
    # one row for each distinct value (its first), factorised in pandas' order
    first = np.full(len(enc.dictionary), -1, dtype=np.int64)
    first[local[::-1]] = np.arange(len(local))[::-1]
    k, u = pd.factorize(s.iloc[first], sort=True, use_na_sentinel=False)
    return k.astype(np.int64)[local], u


def _shares_by_pandas(df: pd.DataFrame, by: list[str], components) -> pd.DataFrame:
    """The figures with pandas' groupby on the columns themselves (grouping by firm code)."""
    valid = df["revenue"].to_numpy(dtype=float) > 0
    excluded = df.loc[~valid, by].value_counts(dropna=False)
    d = df[valid]
    firm_keys = list(dict.fromkeys([*by, "firm_id"]))
    firm_sums = d.groupby(firm_keys, sort=True, dropna=False)[[*components, "revenue"]].sum()
    rows = []
    for comp in components:
        ratio = (firm_sums[comp] / firm_sums["revenue"]).rename("r")
        g_ratio = ratio.groupby(level=list(range(len(by))), dropna=False)
        g = d.groupby(by, sort=True, dropna=False)
        amt, rev = g[comp].sum(), g["revenue"].sum()
        res = pd.DataFrame({"pooled_share": amt / rev, "mean_firm_share": g_ratio.mean(),
                            "median_firm_share": g_ratio.median(), "amount": amt, "revenue": rev,
                            "n_firms": g["firm_id"].nunique(), "n_firm_years": g.size()})
        res.insert(0, "component", comp)
        rows.append(res.reset_index())
    out = pd.concat(rows, ignore_index=True)
    out = out.merge(excluded.rename("n_excluded_firm_years").reset_index(), on=by, how="left")
    out["n_excluded_firm_years"] = out["n_excluded_firm_years"].fillna(0).astype(np.int64)
    out["n_firms"] = out["n_firms"].astype(np.int64)
    out["n_firm_years"] = out["n_firm_years"].astype(np.int64)
    out = out[[*by, *SHARE_COLUMNS]]
    out.attrs["components"] = list(components)
    out.attrs["ratio"] = "pooled_share = Σ support / Σ revenue; firm shares = Σ_t support_it / Σ_t revenue_it"
    return out
