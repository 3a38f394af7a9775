"""Validation and normalisation of the data contract.

Collects every problem before raising one `DataError`; what it repairs or excludes is
recorded row by row in the dataset's `QualityLog`. Row labels in messages and in the log
are the frame's index labels: for files read with `read_dataset` they are the line
numbers of the source (the header is line 1).

Rules (each logged):

* missing-value markers (``""``, ``-``, ``--``, ``—``, ``NA``, ``N/A``, ``null``, ``nan``, ``无``)
  in numeric columns become missing (*repaired*);
* other text in a numeric column is an error (names the cells);
* a fiscal year written as a date (``2019-12-31``, ``2019/12/31``, ``2019年``) becomes the
  year (*repaired*);
* rows without a firm code or year cannot be attributed (*excluded*);
* exact duplicate rows of a keyed table are kept once (*excluded*); duplicated keys with
  different values are an error;
* rows whose firm is not in ``firms`` (orphans) are *excluded* when ``firms`` is given;
* zero or negative revenue is *flagged*: the share of revenue is undefined there;
* negative values in columns that cannot be negative are an error;
* infinite values (``inf``, ``1e999``) in numeric columns are an error;
* tiers named in Chinese (``专精特新“小巨人”企业``, ``创新型中小企业`` …) become the tier
  codes (*repaired*); other unknown tiers are an error;
* a designation year after the current calendar year is *flagged*.
"""

from __future__ import annotations

import datetime as _dt
import re
import unicodedata

import numpy as np
import pandas as pd

from ..errors import DataError
from .spec import TABLES

__all__ = ["validate_dataset", "MISSING_MARKERS", "normalise_table"]

MISSING_MARKERS = frozenset(
    {"", "-", "--", "---", "—", "——", "–", "na", "n/a", "nan", "null", "none", "#n/a", "无", "不适用", "."}
)
_TRUE = {"true", "t", "yes", "y", "1", "1.0", "是", "true.0"}
_FALSE = {"false", "f", "no", "n", "0", "0.0", "否"}
_YEAR_RE = re.compile(r"^\s*(\d{4})(?:\s*年)?(?:[-/.年]\s*\d{1,2}(?:[-/.月]\s*\d{1,2}\s*日?)?)?\s*$")


def _as_text(s: pd.Series) -> pd.Series:
    """Firm codes and other identifiers as stripped strings; floats like 1.0 become '1'."""
    if pd.api.types.is_float_dtype(s):
        txt = s.map(lambda v: pd.NA if pd.isna(v) else (str(int(v)) if float(v).is_integer() else str(v)))
        return txt.astype("string")
    out = s.astype("string").str.strip()
    return out.mask(out.str.lower().isin(MISSING_MARKERS))


def _numeric(s: pd.Series, table: str, column: str, log, problems: list, stage: str) -> pd.Series:
    if pd.api.types.is_bool_dtype(s):
        return s.astype(float)
    if pd.api.types.is_numeric_dtype(s):
        out = s.astype(float)
        _not_finite(out, table, column, problems)
        return out
    txt = s.astype("string").str.strip()
    # thousands separators and full-width minus are common in exports
    cleaned = txt.str.replace(",", "", regex=False).str.replace("，", "", regex=False).str.replace("−", "-", regex=False)
    num = pd.to_numeric(cleaned, errors="coerce")
    is_marker = txt.isna() | txt.str.lower().isin(MISSING_MARKERS)
    marker_rows = s.index[is_marker.fillna(True) & s.notna() & txt.notna()]
    if len(marker_rows):
        log.add(stage=stage, table=table, column=column, rows=marker_rows,
                issue="missing-value marker", action="repaired",
                detail=[f"'{v}' read as missing" for v in txt.loc[marker_rows]])
    bad = num.isna() & ~is_marker.fillna(True)
    if bad.any():
        rows = list(s.index[bad])
        examples = ", ".join(repr(v) for v in txt[bad].head(3))
        problems.append({"table": table, "column": column, "rows": rows,
                         "message": f"text in a numeric column ({examples})",
                         "hint": "correct the cells, or use an empty cell or '--' for missing"})
    num = num.astype(float)
    _not_finite(num, table, column, problems)
    return num


def _not_finite(num: pd.Series, table: str, column: str, problems: list) -> None:
    """Infinite values (``inf``, ``1e999``) are an error, not a number."""
    inf = np.isinf(num.to_numpy(dtype=float, na_value=np.nan))
    if inf.any():
        problems.append({"table": table, "column": column, "rows": list(num.index[inf]),
                         "message": "infinite or overflowing value",
                         "hint": "correct the cells (a number out of range or an 'inf' written by a program)"})


def _years(s: pd.Series, table: str, column: str, log, problems: list, stage: str) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(s):
        out = s.dt.year.astype("Int64")
        rows = s.index[s.notna()]
        if len(rows):
            log.add(stage=stage, table=table, column=column, rows=rows, issue="year given as a date",
                    action="repaired", detail="date reduced to its calendar year")
        return out
    if pd.api.types.is_numeric_dtype(s):
        f = s.astype(float)
        bad = f.notna() & ((f % 1 != 0) | (f < 1900) | (f > 2200))
        if bad.any():
            problems.append({"table": table, "column": column, "rows": list(s.index[bad]),
                             "message": "not a calendar year", "hint": "use four-digit years such as 2019"})
        return f.where(~bad).round().astype("Int64")
    txt = s.astype("string").str.strip()
    is_marker = txt.isna() | txt.str.lower().isin(MISSING_MARKERS)
    plain = pd.to_numeric(txt.where(txt.str.fullmatch(r"\d{4}(\.0)?").fillna(False)), errors="coerce")
    ext = txt.str.extract(_YEAR_RE)[0]
    from_date = pd.to_numeric(ext, errors="coerce")
    repaired = plain.isna() & from_date.notna()
    if repaired.any():
        log.add(stage=stage, table=table, column=column, rows=s.index[repaired],
                issue="year given as a date", action="repaired",
                detail=[f"'{v}' read as {int(y)}" for v, y in zip(txt[repaired], from_date[repaired], strict=True)])
    out = plain.fillna(from_date)
    bad = out.isna() & ~is_marker.fillna(True)
    bad |= out.notna() & ((out < 1900) | (out > 2200))
    if bad.any():
        examples = ", ".join(repr(v) for v in txt[bad].head(3))
        problems.append({"table": table, "column": column, "rows": list(s.index[bad]),
                         "message": f"not a year ({examples})", "hint": "use four-digit years such as 2019"})
    return out.where(~bad).round().astype("Int64")


def _bools(s: pd.Series, table: str, column: str, problems: list) -> pd.Series:
    if pd.api.types.is_bool_dtype(s):
        return s.astype("boolean")
    txt = s.astype("string").str.strip().str.lower()
    out = pd.Series(pd.NA, index=s.index, dtype="boolean")
    out[txt.isin(_TRUE).fillna(False)] = True
    out[txt.isin(_FALSE).fillna(False)] = False
    bad = out.isna() & txt.notna() & ~txt.isin(MISSING_MARKERS).fillna(True)
    if bad.any():
        problems.append({"table": table, "column": column, "rows": list(s.index[bad]),
                         "message": "not a yes/no value", "hint": "use true/false, yes/no or 1/0"})
    return out


#: Chinese names of the certification tiers (quotes, spaces and a trailing 企业 are ignored).
TIER_NAMES_ZH = {
    "创新型中小": "innovative_sme",
    "专精特新中小": "specialized_sme",
    "专精特新": "specialized_sme",
    "专精特新小巨人": "little_giant",
    "小巨人": "little_giant",
    "国家级专精特新小巨人": "little_giant",
    "制造业单项冠军": "manufacturing_champion",
    "单项冠军": "manufacturing_champion",
}


def _tier_from_chinese(v) -> str | None:
    t = unicodedata.normalize("NFKC", str(v))
    t = re.sub(r"[\s\"'“”‘’「」《》]", "", t)
    t = re.sub(r"(企业|示范企业)$", "", t)
    return TIER_NAMES_ZH.get(t)


def normalise_table(df: pd.DataFrame, table: str, log, problems: list, *, stage: str = "validate") -> pd.DataFrame:
    """Coerce the known columns of ``table`` to their kinds; unknown columns are kept as is."""
    spec = TABLES[table]
    df = df.copy()
    for col in df.columns:
        kind = spec.kind(col)
        if kind is None:
            continue
        if kind == "id":
            df[col] = _as_text(df[col])
        elif kind == "text":
            if not pd.api.types.is_string_dtype(df[col]) or df[col].dtype == object:
                df[col] = df[col].astype("string").str.strip()
        elif kind == "year":
            df[col] = _years(df[col], table, col, log, problems, stage)
        elif kind in ("amount", "number", "count"):
            df[col] = _numeric(df[col], table, col, log, problems, stage)
        elif kind == "bool":
            df[col] = _bools(df[col], table, col, problems)
    return df


def _exclude(df: pd.DataFrame, mask: pd.Series, log, table: str, issue: str, detail, stage: str, column: str = "") -> pd.DataFrame:
    if not mask.any():
        return df
    sel = df[mask]
    log.add(stage=stage, table=table, rows=sel.index, column=column, issue=issue, action="excluded",
            firm_id=sel["firm_id"] if "firm_id" in sel else None,
            year=sel["year"] if "year" in sel else None, detail=detail)
    return df[~mask]


def validate_dataset(data, *, stage: str = "validate") -> None:
    """Normalise and check every table of ``data`` in place; raise one DataError listing all problems."""
    log = data.quality
    problems: list[dict] = []
    tables = data.tables()
    for name, df in tables.items():
        if df.columns.duplicated().any():
            dup = sorted(set(df.columns[df.columns.duplicated()].astype(str)))
            problems.append({"table": name, "column": ", ".join(dup), "message": "column appears more than once",
                             "hint": "rename or remove the duplicate columns (check the header mapping)"})
            continue
        df = normalise_table(df, name, log, problems, stage=stage)
        spec = TABLES[name]
        # rows without the key cannot be attributed to a firm-year
        for kcol in [c for c in ("firm_id", "year") if c in df.columns and (c in spec.key or name != "firms")]:
            miss = df[kcol].isna()
            df = _exclude(df, miss, log, name, f"missing {kcol}", "row cannot be attributed", stage, kcol)
        for col in spec.nonnegative:
            if col in df.columns:
                neg = df[col] < 0
                if neg.any():
                    problems.append({"table": name, "column": col, "rows": list(df.index[neg.fillna(False)]),
                                     "message": "negative values where none are possible",
                                     "hint": "check the sign convention of the export"})
        if spec.key and all(k in df.columns for k in spec.key):
            dup_all = df.duplicated(keep="first")
            df = _exclude(df, dup_all, log, name, "exact duplicate row", "identical to an earlier row; kept once", stage)
            dup_key = df.duplicated(list(spec.key), keep=False)
            if dup_key.any():
                keys = df.loc[dup_key, list(spec.key)].astype(str).agg("/".join, axis=1)
                problems.append({"table": name, "column": ", ".join(spec.key), "rows": list(df.index[dup_key]),
                                 "message": f"the same key appears with different values ({', '.join(keys.unique()[:3])})",
                                 "hint": "remove the conflicting duplicates (often a bad merge) so that each key appears once"})
        tables[name] = df
    # orphans: rows for firms that are not in the firms table
    firms = tables.get("firms")
    if firms is not None and "firm_id" in firms:
        known = pd.Index(firms["firm_id"].dropna().unique())
        for name, df in tables.items():
            if name == "firms" or "firm_id" not in df.columns:
                continue
            orphan = ~df["firm_id"].isin(known) & df["firm_id"].notna()
            tables[name] = _exclude(df, orphan, log, name, "firm not in firms table", "orphan row", stage, "firm_id")
    fin = tables.get("financials")
    if fin is not None and "revenue" in fin.columns:
        nonpos = fin["revenue"] <= 0
        if nonpos.any():
            sel = fin[nonpos]
            log.add(stage=stage, table="financials", column="revenue", rows=sel.index, firm_id=sel["firm_id"],
                    year=sel.get("year"), issue="zero or negative revenue", action="flagged",
                    detail="share of revenue is undefined for this firm-year")
    des = tables.get("designations")
    if des is not None and "tier" in des.columns:
        from .spec import TIERS

        raw = des["tier"].astype("string")
        t = raw.str.strip().str.lower().str.replace(" ", "_").str.replace("-", "_")
        zh = raw.map(_tier_from_chinese, na_action="ignore").astype("string")
        named = zh.notna() & ~t.isin(TIERS)
        if named.any():
            log.add(stage=stage, table="designations", column="tier", rows=des.index[named],
                    firm_id=des.loc[named, "firm_id"] if "firm_id" in des else None, issue="tier named in Chinese",
                    action="repaired", detail=[f"'{a}' read as {b}" for a, b in zip(raw[named], zh[named], strict=True)])
            t = t.mask(named, zh)
        bad = t.notna() & ~t.isin(TIERS)
        if bad.any():
            problems.append({"table": "designations", "column": "tier", "rows": list(des.index[bad]),
                             "message": f"unknown tier ({', '.join(repr(v) for v in des['tier'][bad].unique()[:3])})",
                             "hint": f"use one of {', '.join(TIERS)}"})
        tables["designations"] = des.assign(tier=t)
    if (des is not None and "year" in des.columns and not des.columns.duplicated().any()
            and pd.api.types.is_numeric_dtype(des["year"])):
        # a designation dated after the current calendar year is kept but flagged (a typo or a planned award)
        this_year = _dt.date.today().year
        future = (des["year"] > this_year).fillna(False).astype(bool)
        if future.any():
            sel = des[future]
            log.add(stage=stage, table="designations", column="year", rows=sel.index,
                    firm_id=sel["firm_id"] if "firm_id" in sel else None, year=sel["year"],
                    issue="designation year in the future", action="flagged",
                    detail=f"award year after {this_year}; check the date")
    if problems:
        raise DataError(problems=problems)
    for name, df in tables.items():
        # complete year columns become plain int64 (fast keys downstream)
        for col in TABLES[name].columns_of_kind("year"):
            if col in df.columns and str(df[col].dtype) == "Int64" and not df[col].isna().any():
                df[col] = df[col].astype("int64")
        setattr(data, name, df)
