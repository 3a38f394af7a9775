"""Rules for database downloads that spread one table over several files.

* :func:`merge_on_key` — CSMAR delivers the balance sheet (FS_Combas), the income
  statement (FS_Comins), governance basics (CG_Ybasic, employees) and the R&D table
  (PT_LCRDSPENDING) as separate files; together they are the ``financials`` table. They
  are merged on firm and year; a column that two files give with different values for
  the same firm-year is an error (naming firm, year, column and files), never a silent
  choice.
* :func:`subsidy_items` — CSMAR's government-subsidy note (FN_Fn056) lists one row per
  subsidy item (``Fn05601`` item, ``Fn05602`` amount of the period, ``Fn05603`` prior
  period, ``DataSources`` the account it is booked to) plus 合计 (total) rows.
  Items become grant rows; totals are never counted, but check that the items add up.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .spec import TABLES

__all__ = ["merge_on_key", "subsidy_items", "TOTAL_LABELS"]

#: item labels of total rows in CSMAR note tables
TOTAL_LABELS = frozenset({"合计", "总计", "合 计", "total"})


def _keys(df: pd.DataFrame, table: str, key: list[str], log, problems: list, stage: str) -> pd.DataFrame:
    from .validate import _as_text, _years

    df = df.copy()
    if "firm_id" in key:
        df["firm_id"] = _as_text(df["firm_id"])
    if "year" in key:
        df["year"] = _years(df["year"], table, "year", log, problems, stage)
    return df


def merge_on_key(table: str, frames: list[pd.DataFrame], names: list[str], key: list[str], log,
                 problems: list, stage: str) -> pd.DataFrame | None:
    """Outer-merge the files of one keyed table; conflicting values are problems.

    Row labels name every file and row a merged row comes from (``FS_Combas.xlsx:5 +
    FS_Comins.csv:3``). Numbers agree when they are equal to a relative 1e-9 (the same figure
    written with other rounding).
    """
    n0 = len(problems)
    frames = [_keys(df, table, key, log, problems, stage) for df in frames]
    for df, name in zip(frames, names, strict=True):
        missing = [k for k in key if k not in df.columns]
        if missing:
            problems.append({"table": table, "column": ", ".join(missing),
                             "message": f"{name} has no {' / '.join(missing)} column, so it cannot be merged "
                                        "with the other files of the table", "hint": "export the file with its key"})
            continue
        dup = df.duplicated(key, keep=False) & df[key].notna().all(axis=1)
        if dup.any():
            ex = df.loc[dup, key].astype(str).agg("/".join, axis=1).unique()[:3]
            problems.append({"table": table, "column": ", ".join(key), "rows": list(df.index[dup]),
                             "message": f"{name} has several rows for the same key ({', '.join(ex)}), so it "
                                        "cannot be merged with the other files of the table",
                             "hint": "keep one row per firm and year (consolidated, annual) in each file"})
    if len(problems) > n0:
        return None
    out = frames[0].assign(_label=frames[0].index.astype(str))
    source_of = {c: names[0] for c in out.columns}  # the file each column was first read from
    for df, name in zip(frames[1:], names[1:], strict=True):
        df = df.assign(_label=df.index.astype(str))
        both = [c for c in df.columns if c in out.columns and c not in key]
        m = out.merge(df, on=key, how="outer", suffixes=("", "__r"), sort=False)
        for c in both:
            a, b = m[c], m[f"{c}__r"]
            kind = TABLES[table].kind(c)
            if c == "_label":  # a merged row names every file:row it comes from
                m[c] = a.where(b.isna(), a.fillna("").str.cat(b.fillna(""), sep=" + ").str.strip(" +"))
                m = m.drop(columns=f"{c}__r")
                continue
            if kind is not None:
                differ = _differ(a, b)
                if differ.any():
                    sel = m.loc[differ]
                    ex = "; ".join(f"{r.firm_id}/{r.year}: {getattr(r, c)!r} vs {getattr(r, c + '__r')!r}"
                                   for r in sel.head(3).itertuples())
                    problems.append({"table": table, "column": c, "rows": list(sel["_label__r"]),
                                     "message": f"{source_of[c]} and {name} give different values for the same "
                                                f"firm-year ({ex})",
                                     "hint": "export both files from the same download (same date and statement "
                                             "type), or drop the column from one of them"})
            m[c] = a.where(a.notna(), b)
            m = m.drop(columns=f"{c}__r")
        for c in df.columns:
            source_of.setdefault(c, name)
        out = m
    if len(problems) > n0:
        return None
    out.index = pd.Index(out.pop("_label"), dtype=object, name=None)
    log.add(stage=stage, table=table, issue="files merged", action="info", column=", ".join(key),
            detail=f"{' + '.join(names)} merged on {', '.join(key)}: {len(out):,} rows")
    return out


def _differ(a: pd.Series, b: pd.Series) -> pd.Series:
    both = a.notna() & b.notna()
    if not both.any():
        return both
    fa = pd.to_numeric(a, errors="coerce")
    fb = pd.to_numeric(b, errors="coerce")
    numeric = fa.notna() & fb.notna()
    close = pd.Series(np.isclose(fa.fillna(0).to_numpy(float), fb.fillna(0).to_numpy(float), rtol=1e-9, atol=0),
                      index=a.index)
    text_diff = a.astype("string").str.strip() != b.astype("string").str.strip()
    out = both & ((numeric & ~close) | (~numeric & text_diff.fillna(False)))
    return out.fillna(False).astype(bool)


def subsidy_items(df: pd.DataFrame, log, stage: str, *, where: str = "") -> pd.DataFrame:
    """Grant rows from CSMAR's subsidy note: items counted, total (合计) rows checked and excluded.

    Rules (docs/data.md):

    * a row whose item (``Fn05601``, read as ``programme``) is 合计 is a total: it is not a
      grant. Per firm, year and ``DataSources``, the items must add up to the total
      (relative 1e-6); a mismatch is flagged with firm and year.
    * every ``DataSources`` account counts. The same item with the same amount booked to
      several accounts in one firm-year (received into deferred income and released to
      other income in the same year) is counted once; the repeats are excluded and logged.
    * rows without an amount of the period (``Fn05602``) carry no grant and are excluded.
    """
    prog = df["programme"].astype("string").str.strip()
    total = prog.str.lower().isin(TOTAL_LABELS).fillna(False).astype(bool)
    src_col = next((c for c in df.columns if str(c).lower() in ("datasources", "数据来源", "列报会计科目")), None)
    group = ["firm_id", "year"] + ([src_col] if src_col else [])
    amount = pd.to_numeric(df["amount"].astype("string").str.replace(",", "", regex=False), errors="coerce")
    if total.any() and all(c in df.columns for c in group):
        parts = [df[c].astype("string").fillna("") for c in group]
        g = parts[0].str.cat(parts[1:], sep="|")  # one key per firm, year and account, built column-wise
        items = amount.where(~total).groupby(g).sum(min_count=1)
        totals = amount.where(total).groupby(g).sum(min_count=1)
        both = pd.concat({"items": items, "total": totals}, axis=1).dropna(subset=["total"])
        bad = both[~np.isclose(both["items"].fillna(0), both["total"], rtol=1e-6, atol=0.5)]
        if len(bad):
            rows = total & g.isin(bad.index)
            b = bad.reindex(g[rows])
            log.add(stage=stage, table="grants", rows=df.index[rows], column="amount",
                    firm_id=df.loc[rows, "firm_id"], year=df.loc[rows, "year"],
                    issue="subsidy items do not add up to their total", action="flagged",
                    detail=[f"items sum to {i:,.2f}, the 合计 row says {t:,.2f}"
                            for i, t in zip(b["items"].fillna(0), b["total"], strict=True)])
    if total.any():
        sel = df[total]
        log.add(stage=stage, table="grants", rows=sel.index, column="programme", firm_id=sel["firm_id"],
                year=sel.get("year"), issue="total row (合计)", action="excluded",
                detail=f"{where}: a total of the items above it; items are counted, totals only checked")
    keep = ~total
    no_amount = keep & amount.isna()
    if no_amount.any():
        sel = df[no_amount]
        log.add(stage=stage, table="grants", rows=sel.index, column="amount", firm_id=sel["firm_id"],
                year=sel.get("year"), issue="subsidy item without an amount", action="excluded",
                detail="no amount of the period (Fn05602); the prior period's figure belongs to the prior year's row")
        keep &= ~no_amount
    if src_col:
        k = pd.DataFrame({"f": df["firm_id"].astype("string"), "y": df["year"].astype("string"),
                          "p": prog, "a": amount, "s": df[src_col].astype("string")})[keep]
        # the row kept is the one in the lowest account code, whatever the file's row order
        k = k.sort_values("s", kind="stable")
        repeat = k.duplicated(["f", "y", "p", "a"], keep="first")
        same = k.duplicated(["f", "y", "p", "a", "s"], keep="first")  # the very same row again
        for mask, issue, detail in (
                (repeat & ~same, "subsidy item booked to several accounts",
                 "the same item and amount in another account in the same year: counted once"),
                (same, "subsidy item repeated", "the same item, amount and account again in the same year: "
                                                "counted once")):
            rows = mask.reindex(df.index, fill_value=False)
            if rows.any():
                sel = df[rows]
                log.add(stage=stage, table="grants", rows=sel.index, column=src_col, firm_id=sel["firm_id"],
                        year=sel.get("year"), issue=issue, action="excluded", detail=detail)
                keep &= ~rows
    return df[keep]
