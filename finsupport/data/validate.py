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
import itertools
import re
import unicodedata
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import pandas as pd

from ..errors import DataError
from ..progress import current_task
from .arrow_text import (
    TextCodes,
    arrow_strings,
    blank_text,
    edge_space,
    in_known,
    isin_values,
    may_begin,
    text_array,
)
from .periods import parse_periods
from .repeated_rows import duplicated_key, duplicated_rows, rows_at
from .spec import TABLES

__all__ = ["validate_dataset", "MISSING_MARKERS", "normalise_table", "exclude_interim"]

MISSING_MARKERS = frozenset(
    {"", "-", "--", "---", "—", "——", "–", "na", "n/a", "nan", "null", "none", "#n/a", "无", "不适用", "."}
)
#: pandas 3 copies on write: a shallow copy whose columns are replaced leaves the caller's frame as it was
_COPY_ON_WRITE = int(pd.__version__.split(".")[0]) >= 3
_TRUE = {"true", "t", "yes", "y", "1", "1.0", "是", "true.0"}
_FALSE = {"false", "f", "no", "n", "0", "0.0", "否"}


def _log_markers(log, stage: str, table: str, column: str, cells: pd.Series) -> None:
    """One "missing-value marker" record per cell in ``cells`` (indexed by row): its text read as missing."""
    if len(cells):
        log.add(stage=stage, table=table, column=column, rows=cells.index, issue="missing-value marker",
                action="repaired", detail=[f"'{v}' read as missing" for v in cells])


def _as_text(s: pd.Series) -> pd.Series:
    """Firm codes and other identifiers as stripped strings; floats like 1.0 become '1'."""
    if pd.api.types.is_float_dtype(s):
        txt = s.map(lambda v: pd.NA if pd.isna(v) else (str(int(v)) if float(v).is_integer() else str(v)))
        return txt.astype("string")
    out = s.astype("string")
    if edge_space(out) is not False:   # nothing to strip in a column read by finsupport's reader
        out = out.str.strip()
    marker = _is_marker(out)
    return out.mask(marker) if marker.any() else out   # no copy of a column without markers


_MARKER_LEN = max(len(m) for m in MISSING_MARKERS)
# every spelling of a marker that lower-cases to it ("NA", "Null", "nAn" …): only ASCII letters
# change (no other character lower-cases to a letter of a marker), so these are all of them
_MARKER_SPELLINGS = sorted({"".join(p) for m in MISSING_MARKERS for p in itertools.product(
    *[(c, c.upper()) if c.isascii() and c.isalpha() else (c,) for c in m])})


_MARKER_FIRST = np.zeros(256, dtype=bool)
_MARKER_FIRST[[m.encode()[0] for m in _MARKER_SPELLINGS if m]] = True


def _is_marker(txt: pd.Series) -> pd.Series:
    """``txt.str.lower().isin(MISSING_MARKERS)``: for Arrow text, one look-up of each cell among
    the markers' spellings in either case (no lower-cased copy); otherwise lower-casing only the
    cells short enough to be a marker."""
    arr = text_array(txt)
    if arr is not None:
        import pyarrow as pa
        import pyarrow.compute as pc

        if not may_begin(arr, _MARKER_FIRST):   # firm codes begin with a digit or a letter no marker begins with
            return pd.Series(np.zeros(len(txt), dtype=bool), index=txt.index)
        hit = pc.is_in(arr, value_set=pa.array(_MARKER_SPELLINGS, type=arr.type))
        return pd.Series(np.asarray(pc.fill_null(hit, False), dtype=bool), index=txt.index)
    short = (txt.str.len() <= _MARKER_LEN).fillna(False).astype(bool)
    if short.all():
        return txt.str.lower().isin(MISSING_MARKERS).fillna(False).astype(bool)
    out = pd.Series(False, index=txt.index)
    if short.any():
        out[short.to_numpy()] = txt[short.to_numpy()].str.lower().isin(MISSING_MARKERS).fillna(False).to_numpy(bool)
    return out


def _numeric(s: pd.Series, table: str, column: str, log, problems: list, stage: str) -> pd.Series:
    if pd.api.types.is_bool_dtype(s):
        return s.astype(float)
    if pd.api.types.is_numeric_dtype(s):
        out = s.astype(float)
        _not_finite(out, table, column, problems)
        return out
    fast = to_float(s.astype("string"))
    if fast is not None:  # every cell a plain number (the common case): one correctly rounded cast
        words = fast.isna() & s.notna()  # 'nan' written as text is read as missing, and said so
        _log_markers(log, stage, table, column, s[words])
        _not_finite(fast, table, column, problems)
        return fast
    txt = s.astype("string").str.strip()
    # thousands separators and full-width minus are common in exports
    cleaned = txt
    if txt.str.contains("[,，−]", regex=True).fillna(False).any():
        cleaned = txt.str.replace(",", "", regex=False).str.replace("，", "", regex=False).str.replace(
            "−", "-", regex=False)
    is_marker = txt.isna() | txt.str.lower().isin(MISSING_MARKERS)
    num = to_float(cleaned.mask(is_marker.fillna(True)))
    if num is None:  # some cell is not a plain number: find which
        num = pd.to_numeric(cleaned, errors="coerce")
    _log_markers(log, stage, table, column, txt[is_marker.fillna(True) & s.notna() & txt.notna()])
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


def to_float(s: pd.Series) -> pd.Series | None:
    """Text cells to floats, correctly rounded (pyarrow's parser); None where a cell is not a plain number."""
    arr = arrow_strings(s)
    if arr is None:
        return None
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        out = pc.cast(arr, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return pd.Series(out.to_numpy(zero_copy_only=False), index=s.index, dtype=float)


def _not_finite(num: pd.Series, table: str, column: str, problems: list) -> None:
    """Infinite values (``inf``, ``1e999``) are an error, not a number."""
    inf = np.isinf(num.to_numpy(dtype=float, na_value=np.nan))
    if inf.any():
        problems.append({"table": table, "column": column, "rows": list(num.index[inf]),
                         "message": "infinite or overflowing value",
                         "hint": "correct the cells (a number out of range or an 'inf' written by a program)"})


def _years(s: pd.Series, table: str, column: str, log, problems: list, stage: str) -> pd.Series:
    """Calendar years from years, dates and report periods (see :mod:`finsupport.data.periods`)."""
    if pd.api.types.is_datetime64_any_dtype(s):
        out = s.dt.year.astype("Int64")
        rows = s.index[s.notna()]
        if len(rows):
            log.add(stage=stage, table=table, column=column, rows=rows, issue="year given as a date",
                    action="repaired", detail="date reduced to its calendar year")
        return out
    if s.dtype == np.int64 and (not len(s) or (s.min() >= 1900 and s.max() <= 2200)):
        return pd.Series(pd.arrays.IntegerArray(s.to_numpy(), np.zeros(len(s), dtype=bool)), index=s.index)
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        f = s.astype(float)
        plain = f.isna() | ((f % 1 == 0) & (f >= 1900) & (f <= 2200))
        if plain.all():
            return f.round().astype("Int64")
        txt = s.astype(float).map(lambda v: str(int(v)) if float(v).is_integer() else str(v),
                                  na_action="ignore").astype("string")
    else:
        fast = to_float(s.astype("string"))
        if fast is not None and (fast.isna() | ((fast % 1 == 0) & (fast >= 1900) & (fast <= 2200))).all() \
                and not (fast.isna() & s.notna()).any():
            return fast.round().astype("Int64")  # plain years written as text (every CSV)
        txt = s.astype("string").str.strip()
    is_marker = txt.isna() | txt.str.lower().isin(MISSING_MARKERS)
    per = parse_periods(txt)
    out = per["year"].astype("Float64")
    plain_text = txt.str.fullmatch(r"\d{4}(?:\.0)?").fillna(False).astype(bool)
    repaired = per["ok"] & ~plain_text
    if repaired.any():
        log.add(stage=stage, table=table, column=column, rows=s.index[repaired],
                issue="year given as a date", action="repaired",
                detail=("'" + txt[repaired].astype(str) + "' read as " + per["year"][repaired].astype(str)).tolist())
    unread = (~per["ok"] & ~is_marker.fillna(True)).fillna(False).astype(bool)
    outside = (out.notna() & ((out < 1900) | (out > 2200))).fillna(False).astype(bool) & ~unread
    for bad, what, hint in (
            (unread, "not a year", "use four-digit years such as 2019 (2019-12-31, 20191231, 2019年报 and 2019A "
                                   "are also read)"),
            (outside, "year outside 1900–2200", "correct the year (a typo, or a code or amount in the year "
                                               "column: check the column mapping)")):
        if bad.any():
            examples = ", ".join(repr(v) for v in txt[bad].head(3))
            problems.append({"table": table, "column": column, "rows": list(s.index[bad]),
                             "message": f"{what} ({examples})", "hint": hint})
    bad = unread | outside
    return out.where(~bad).round().astype("Int64")


def exclude_interim(df: pd.DataFrame, table: str, log, stage: str, *, report_dates: bool = False) -> pd.DataFrame:
    """Drop financial rows whose period is not a fiscal year end (interim reports, opening balances).

    Chinese firms' fiscal year is the calendar year, so a report date other than 12-31
    (``2019-06-30``, CSMAR's opening-balance ``2019-01-01``) or a Wind interim period
    (``2019中报``) is not an annual figure. The rows are excluded and logged. ``report_dates``:
    the table's dates are report dates whatever the table (a vendor's note table, such as
    CSMAR's subsidy note FN_Fn056, whose 06-30 rows are half-year amounts).
    """
    if not (table == "financials" or report_dates) or "year" not in df.columns or \
            pd.api.types.is_bool_dtype(df["year"]):
        return df
    if pd.api.types.is_numeric_dtype(df["year"]) and (df["year"].dropna() <= 2200).all():
        return df  # plain years carry no period
    if _plain_years(df["year"]):
        return df  # the same written as text (every CSV): no cell names a period
    per = parse_periods(df["year"])
    interim = (per["annual"] == False).fillna(False).astype(bool)  # noqa: E712 (NA stays NA)
    if not interim.any():
        return df
    sel = df[interim]
    log.add(stage=stage, table=table, rows=sel.index, column="year", issue="not an annual report",
            action="excluded", firm_id=sel["firm_id"] if "firm_id" in sel else None,
            detail=("period '" + sel["year"].astype(str)
                    + "' is not a fiscal year end (interim report or opening balance); annual rows are used").tolist())
    return df[~interim]


def _plain_years(s: pd.Series) -> bool:
    """Every cell a plain number from 1900 to 2200 or missing (text such as ``2019`` or ``2019.0``):
    no cell can be an interim period, so the period parser is not needed."""
    if not pd.api.types.is_string_dtype(s.dtype):
        return False
    fast = to_float(s.astype("string"))
    if fast is None:
        return False
    v = fast.to_numpy(dtype=float)
    return bool(np.all(np.isnan(v) | ((v >= 1900) & (v <= 2200))))


def _bools(s: pd.Series, table: str, column: str, problems: list, log=None, stage: str = "validate") -> pd.Series:
    """Yes/no cells as a boolean column (missing where empty or a missing-value marker).

    ``log``: where a marker (``NA``, ``-``, ``无``) is read as missing, as numbers' markers are."""
    out = _bool_values(s, table, column, problems)
    if log is not None and not pd.api.types.is_bool_dtype(s):
        miss = out.isna().to_numpy() & s.notna().to_numpy()
        if miss.any():   # an empty cell is simply missing; a marker is said so
            txt = s[miss].astype("string").str.strip()
            _log_markers(log, stage, table, column, txt[(txt.ne("") & _is_marker(txt)).fillna(False)])
    return out


def _bool_values(s: pd.Series, table: str, column: str, problems: list) -> pd.Series:
    if pd.api.types.is_bool_dtype(s):
        return s.astype("boolean")
    codes, uniq = pd.factorize(s)
    if len(uniq) < len(s) // 2:  # a handful of distinct spellings: judge each once
        one = _bool_values(pd.Series(uniq, dtype=object), table, column, found := [])
        if found:  # name the rows that hold the bad spellings
            bad = pd.Series(codes).isin(found[0]["rows"]).to_numpy()
            problems.append({**found[0], "rows": list(s.index[bad])})
        vals = pd.array(list(one) + [pd.NA], dtype="boolean")
        return pd.Series(vals[np.where(codes < 0, len(uniq), codes)], index=s.index)
    txt = s.astype("string").str.strip().str.lower()
    out = pd.Series(pd.NA, index=s.index, dtype="boolean")
    out[txt.isin(_TRUE).fillna(False)] = True
    out[txt.isin(_FALSE).fillna(False)] = False
    bad = out.isna() & txt.notna() & ~txt.isin(MISSING_MARKERS).fillna(True)
    if bad.any():
        examples = ", ".join(repr(v) for v in s[bad].astype(str).unique()[:3])
        problems.append({"table": table, "column": column, "rows": list(s.index[bad]),
                         "message": f"not a yes/no value ({examples})", "hint": "use true/false, yes/no or 1/0"})
    return out


#: Chinese names of the certification tiers (quotes, spaces and a trailing 企业 are ignored).
TIER_NAMES_ZH = {
    "创新型中小": "innovative_sme",
    "专精特新中小": "specialized_sme",
    "专精特新": "specialized_sme",
    "专精特新小巨人": "little_giant",
    "小巨人": "little_giant",
    "国家级专精特新小巨人": "little_giant",
    "专精特新重点小巨人": "little_giant",  # the subset of Little Giants singled out for central funds
    "重点小巨人": "little_giant",
    "制造业单项冠军": "manufacturing_champion",
    "单项冠军": "manufacturing_champion",
}


def _tier_from_chinese(v) -> str | None:
    t = unicodedata.normalize("NFKC", str(v))
    t = re.sub(r"[\s\"'“”‘’「」《》]", "", t)
    t = re.sub(r"(企业|示范企业)$", "", t)
    return TIER_NAMES_ZH.get(t)


_ZH_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
_BATCH_RE = r"^\s*第?\s*(?P<n>[一二三四五六七八九十]{1,2}|\d+)\s*批(?:次)?\s*$"


def _batch_numbers(s: pd.Series, log, stage: str) -> pd.Series:
    """MIIT writes batches as 第一批, 第三批: read as 1, 3 (repaired, logged)."""
    if pd.api.types.is_numeric_dtype(s):
        return s
    txt = s.astype("string")
    m = txt.str.extract(_BATCH_RE)["n"]
    hit = m.notna().to_numpy()
    if not hit.any():
        return s

    def value(n: str) -> int:
        if n.isdigit():
            return int(n)
        if len(n) == 2:  # 十一 … 十九
            return 10 + _ZH_DIGITS[n[1]] if n[0] == "十" else _ZH_DIGITS[n[0]] * 10
        return _ZH_DIGITS[n]

    nums = m[hit].map(value)
    log.add(stage=stage, table="designations", column="batch", rows=s.index[hit], issue="batch written in words",
            action="repaired", detail=("'" + txt[hit].astype(str) + "' read as " + nums.astype(str)).tolist())
    return s.astype(object).where(~hit, nums.reindex(s.index).astype(object))


def normalise_table(df: pd.DataFrame, table: str, log, problems: list, *, stage: str = "validate") -> pd.DataFrame:
    """Coerce the known columns of ``table`` to their kinds; unknown columns are kept as is."""
    spec = TABLES[table]
    df = df.copy(deep=not _COPY_ON_WRITE)  # columns are replaced, never written into
    if table == "designations" and "batch" in df.columns:
        df["batch"] = _batch_numbers(df["batch"], log, stage)
    for col in df.columns:
        kind = spec.kind(col)
        if kind is None:
            continue
        if kind == "id":
            df[col] = _as_text(df[col])
        elif kind == "text":
            if not pd.api.types.is_string_dtype(df[col]) or df[col].dtype == object:
                df[col] = df[col].astype("string")
            if edge_space(df[col]) is not False:   # stripped whatever the format (a clean column: no copy)
                df[col] = df[col].str.strip()
            blank = blank_text(df[col], stripped=True)
            if blank.any():   # an empty cell is missing whatever the format (CSV's reader already says so)
                df[col] = df[col].mask(blank)
        elif kind == "year":
            df[col] = _years(df[col], table, col, log, problems, stage)
        elif kind in ("amount", "number", "count"):
            df[col] = _numeric(df[col], table, col, log, problems, stage)
        elif kind == "bool":
            df[col] = _bools(df[col], table, col, problems, log, stage)
    return df


def _exclude(df: pd.DataFrame, mask: pd.Series, log, table: str, issue: str, detail, stage: str, column: str = "") -> pd.DataFrame:
    if not mask.any():
        return df
    sel = df[mask]
    log.add(stage=stage, table=table, rows=sel.index, column=column, issue=issue, action="excluded",
            firm_id=sel["firm_id"] if "firm_id" in sel else None,
            year=sel["year"] if "year" in sel else None, detail=detail)
    return df[~mask]


_EXCHANGE = r"^([0-9A-Za-z]+)\.(?:SZ|SH|BJ|HK|SS|NQ|OC|SZE|SHE)$"


def _canonical_ids(ids: pd.Series) -> pd.Series:
    """A code without its exchange suffix and, if all digits, without leading zeros (``'002001.SZ'`` → ``'2001'``)."""
    s = ids.astype("string").str.strip().str.upper().str.replace(_EXCHANGE, r"\1", regex=True, case=False)
    digits = s.str.fullmatch(r"\d+").fillna(False).astype(bool)
    stripped = s.str.lstrip("0").mask(lambda x: x == "", "0")
    return s.where(~digits, stripped)


def _reconcile_ids(df: pd.DataFrame, known: pd.Index, table: str, log, problems: list, stage: str, *,
                   found: np.ndarray | None = None) -> tuple[pd.DataFrame, bool]:
    """Match firm codes that differ from the firms table only by leading zeros or an exchange suffix.

    ``2001`` (a CSV that lost the zeros) or ``002001.SZ`` (a Wind code) is read as the firms
    table's ``002001`` when exactly one firm code has that canonical form; the repair is
    logged row by row. A code whose canonical form fits several firms is an error. ``found``: the
    codes already in ``known``, if looked up. Returns the frame and whether a code was changed.
    """
    ids = df["firm_id"]
    unknown = ids.notna() & ~(isin_values(ids, known) if found is None else found)
    if not unknown.any() or not len(known):
        return df, False
    known_s = pd.Series(known.astype(str))
    canon = pd.Series(_canonical_ids(known_s).to_numpy(), index=known_s.to_numpy())
    several = canon.duplicated(keep=False).to_numpy()
    single = pd.Series(canon.index[~several], index=canon[~several].to_numpy())  # canonical form -> firm code
    u = pd.Series(ids[unknown].unique())
    uc = pd.Series(_canonical_ids(u).to_numpy(), index=u.to_numpy())
    amb_canon = set(canon[several])
    ambiguous = uc[uc.isin(amb_canon)]
    if len(ambiguous):
        rows = list(df.index[ids.isin(ambiguous.index)])
        fits = canon[several]
        ex = "; ".join(f"'{k}' could be {', '.join(repr(x) for x in fits.index[fits == c])}"
                       for k, c in ambiguous.head(3).items())
        problems.append({"table": table, "column": "firm_id", "rows": rows,
                         "message": f"firm codes match several firms of the firms table after adding leading "
                                    f"zeros or removing an exchange suffix ({ex})",
                         "hint": "write the firm codes in full, as in the firms table (e.g. six digits, as text)"})
    unique = uc.map(single).dropna()
    if unique.empty:
        return df, False
    hit = pd.Series(isin_values(ids, unique.index), index=ids.index)
    new = ids[hit].map(unique)
    log.add(stage=stage, table=table, rows=df.index[hit], column="firm_id", issue="firm code matched to the firms table",
            action="repaired", firm_id=new,
            detail=("'" + ids[hit].astype(str) + "' read as '" + new.astype(str)
                    + "' (leading zeros or exchange suffix differ from the firms table)").tolist())
    df = df.copy()
    df.loc[hit, "firm_id"] = new.astype(df["firm_id"].dtype)
    return df, True


class _EarlyCodes:
    """The firm codes of every table encoded on a second thread while the tables are normalised
    one by one (pyarrow's hashing lets go of the interpreter lock). A table's codes are used
    only if its firm-code column is still the very array that was encoded (normalising a clean
    column keeps it; stripping, markers or excluded rows make a new one, encoded again)."""

    def __init__(self, tables: dict) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._jobs: dict[str, tuple[object, Future]] = {}
        for name, df in tables.items():
            arr = text_array(df["firm_id"]) if "firm_id" in df.columns else None
            if arr is None or len(arr) < 1 << 16:   # small tables: not worth a thread
                continue
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="finsupport-codes")
            self._jobs[name] = (arr, self._pool.submit(TextCodes.of_arrow, arr))   # exactly what of() compares

    def of(self, name: str, s: pd.Series) -> TextCodes | None:
        job = self._jobs.pop(name, None)
        if job is not None and text_array(s) is job[0]:
            return job[1].result()
        return TextCodes.of(s)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


def validate_dataset(data, *, stage: str = "validate") -> None:
    """Normalise and check every table of ``data`` in place; raise one DataError listing all problems."""
    early = _EarlyCodes({n: d for n, d in data.tables().items() if not d.columns.duplicated().any()})
    try:
        _validate_dataset(data, early, stage)
    finally:
        early.close()


def _normalised(df: pd.DataFrame, name: str, log, problems: list, stage: str) -> pd.DataFrame:
    """One table normalised, its rows without a key excluded and its impossible negatives reported."""
    df = exclude_interim(df, name, log, stage)
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
    return df


def _repeated_rows(df: pd.DataFrame, name: str, ids: TextCodes | None, log, problems: list,
                   stage: str) -> tuple[pd.DataFrame, TextCodes | None]:
    """Identical rows flagged (a table without a key) or kept once (a keyed table), and keys that
    repeat with different values reported; returns the table and its firm codes, kept in step."""
    spec = TABLES[name]
    codes = {"firm_id": ids} if ids is not None else None
    # a grant or investment listed twice with every value equal: often a file appended twice
    # (a row repeats an earlier one exactly when some row is duplicated: one pass finds both)
    rep = duplicated_rows(df, keep="first", codes=codes) if not spec.key and len(df) else None
    if rep is not None and rep.any():
        sel = df[rep]
        log.add(stage=stage, table=name, rows=sel.index, issue="identical rows", action="flagged",
                firm_id=sel["firm_id"] if "firm_id" in sel else None, year=sel.get("year"),
                detail="every value equals an earlier row's; both are counted — remove one if the file was "
                       "appended twice")
    if spec.key and all(k in df.columns for k in spec.key):
        # identical rows share their key: both checks look only at the rows whose key repeats
        repeats = duplicated_key(df, list(spec.key), ids).to_numpy()
        dup_all = np.zeros(len(df), dtype=bool)
        if repeats.any():   # (by position, as in duplicated_rows)
            at = np.flatnonzero(repeats)
            dup_all[at] = rows_at(df, at).duplicated(keep="first").to_numpy()
        df = _exclude(df, pd.Series(dup_all, index=df.index), log, name, "exact duplicate row",
                      "identical to an earlier row; kept once", stage)
        if dup_all.any():
            repeats = repeats[~dup_all]
            ids = ids.keep(~dup_all) if ids is not None else None
        dup_key = np.zeros(len(df), dtype=bool)
        if repeats.any():   # a key that repeated only in a row now excluded is single again
            at = np.flatnonzero(repeats)
            dup_key[at] = rows_at(df[list(spec.key)], at).duplicated(keep=False).to_numpy()
        if dup_key.any():
            keys = df.loc[dup_key, list(spec.key)].astype(str).agg("/".join, axis=1)
            problems.append({"table": name, "column": ", ".join(spec.key), "rows": list(df.index[dup_key]),
                             "message": f"the same key appears with different values ({', '.join(keys.unique()[:3])})",
                             "hint": "remove the conflicting duplicates (often a bad merge) so that each key appears once"})
    return df, ids


def _validate_dataset(data, early: _EarlyCodes, stage: str) -> None:
    log = data.quality
    problems: list[dict] = []
    tables = data.tables()
    task = current_task()  # a run's "validate" stage: each table, then the checks across tables
    task.expect(len(tables) + 1, "tables")
    normalised: list[str] = []
    for name, df in tables.items():
        task.note(f"{name}, {len(df):,} rows")
        task.advance(1)
        if df.columns.duplicated().any():
            dup = sorted(set(df.columns[df.columns.duplicated()].astype(str)))
            problems.append({"table": name, "column": ", ".join(dup), "message": "column appears more than once",
                             "hint": "rename or remove the duplicate columns (check the header mapping)"})
            continue
        tables[name] = _normalised(df, name, log, problems, stage)
        normalised.append(name)
    # the firm codes were encoded on the second thread while every table was normalised: the checks
    # that compare them come after, so that they seldom wait for it
    task.note("repeated rows and keys")
    firm_codes: dict[str, TextCodes] = {}
    for name in normalised:
        df = tables[name]
        ids = early.of(name, df["firm_id"]) if "firm_id" in df.columns else None
        tables[name], ids = _repeated_rows(df, name, ids, log, problems, stage)
        if ids is not None:
            firm_codes[name] = ids
    # orphans: rows for firms that are not in the firms table
    task.note("firm codes across tables")
    firms = tables.get("firms")
    others = [n for n, d in tables.items() if n != "firms" and "firm_id" in d.columns and len(d)]
    if firms is not None and "firm_id" in firms and not len(firms) and others:
        # every other row would be excluded as an unknown firm, and each table reported as empty
        read = log.accounting().set_index("table")["rows_read"].get("firms", 0)
        none = (f"has no rows left (every one of its {read:,} rows read was excluded: see the data-quality log)"
                if read else "has no rows")
        problems.append({"table": "firms", "column": "firm_id", "rows": [],
                         "message": f"the firms table {none}: every row of " + ", ".join(others)
                                    + " would be excluded as a firm not in the firms table",
                         "hint": "give the firms (one row per firm_id), or leave the firms file out "
                                 "(the table is optional: without it no firm code is checked against it)"})
        firms = None
    if firms is not None and "firm_id" in firms:
        known = pd.Index(firms["firm_id"].dropna().unique())
        looked_up = in_known({n: c for n, c in firm_codes.items() if n != "firms" and n in tables
                              and "firm_id" in tables[n].columns and len(c.index) == len(tables[n])}, known)
        for name, df in tables.items():
            if name == "firms" or "firm_id" not in df.columns:
                continue
            found = looked_up.get(name)
            if found is None:
                found = isin_values(df["firm_id"], known, codes=firm_codes.get(name))
            df, repaired = _reconcile_ids(df, known, name, log, problems, stage, found=found)
            orphan = ~(isin_values(df["firm_id"], known) if repaired else found) & df["firm_id"].notna()
            if orphan.any():
                ids = df.loc[orphan, "firm_id"].unique()
                shown = ", ".join(map(str, ids[:5])) + (f" … (+{len(ids) - 5} more)" if len(ids) > 5 else "")
                detail = f"firm code not in the firms table ({len(ids)} code(s): {shown})"
            else:
                detail = "orphan row"
            tables[name] = _exclude(df, orphan, log, name, "firm not in firms table", detail, stage, "firm_id")
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
        codes, uniq = pd.factorize(raw)  # few distinct tiers: each read once
        zh_u = pd.Series([_tier_from_chinese(v) for v in uniq] + [None], dtype="string")
        zh = pd.Series(zh_u.to_numpy()[np.where(codes < 0, len(uniq), codes)], index=raw.index, dtype="string")
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
    task.advance(1)
    if problems:
        raise DataError(problems=problems)
    for name, df in tables.items():
        # complete year columns become plain int64 (fast keys downstream)
        for col in TABLES[name].columns_of_kind("year"):
            if col in df.columns and str(df[col].dtype) == "Int64" and not df[col].isna().any():
                df[col] = df[col].astype("int64")
        setattr(data, name, df)
