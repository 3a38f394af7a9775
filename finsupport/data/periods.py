"""Fiscal years and report periods as CSMAR, Wind and the statistical surveys write them.

One parser for every place a year or a report period appears (a ``year`` column, a
CSMAR ``Accper``/``EndDate`` date, a Wind ``[报告期]`` header tag):

============================  ======  =======  =====================================
written as                    year    annual   note
============================  ======  =======  =====================================
``2019``, ``2019.0``          2019    yes
``2019年``, ``2019年度``        2019    yes
``2019A``, ``FY2019``         2019    yes      analysts' annual tag
``2019年报``, ``2019年年报``     2019    yes      Wind report period
``2019-12-31``, ``20191231``  2019    yes      year-end report date (also ``/`` ``.`` ``年月日``)
``2019-06-30``, ``20190630``  2019    no       interim report date
``2019-01-01``                2019    no       CSMAR opening balance (期初)
``2019中报``, ``2019半年报``     2019    no       Wind interim periods
``2019一季报``, ``2019三季报``   2019    no
``2019Q3``, ``2019H1``        2019    no
============================  ======  =======  =====================================

Chinese listed firms' fiscal year is the calendar year (Accounting Law of the PRC,
art. 11), so a report date other than 12-31 is an interim or opening-balance row, never
the annual statement. ``annual`` is NA where the text carries no period (``2019``) in
a table where that is fine, and the row is treated as annual.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd

__all__ = ["parse_periods", "PERIOD_PATTERN"]

_DATE = r"(?P<y1>\d{4})\s*(?:[-/.]|年)\s*(?P<m1>\d{1,2})\s*(?:[-/.]|月)\s*(?P<d1>\d{1,2})\s*日?(?:\s+00:00(?::00)?)?"
_COMPACT = r"(?P<y2>\d{4})(?P<m2>\d{2})(?P<d2>\d{2})"
_TAGGED = (r"(?:fy\s*)?(?P<y3>\d{4})\s*(?:\.0)?\s*(?P<tag>年年报|年报|年度报告|年度|年|a|fy|"
           r"中报|半年报|半年度|h1|h2|一季报|二季报|三季报|四季报|季报|q[1-4])?")
#: the whole-cell pattern of every accepted spelling (case-insensitive, after NFKC)
PERIOD_PATTERN = re.compile(rf"^\s*(?:{_DATE}|{_COMPACT}|{_TAGGED})\s*$", re.I)
_ANNUAL_TAGS = {"年年报", "年报", "年度报告", "年度", "年", "a", "fy"}


def parse_periods(values: pd.Series) -> pd.DataFrame:
    """Year and annual flag of each cell of ``values`` (text, numbers or dates).

    Returns
    -------
    DataFrame with the index of ``values`` and columns ``year`` (Int64; NA where the
    cell is not a period), ``annual`` (boolean; NA where the text gives no period) and
    ``ok`` (the cell was read as a period).
    """
    s = values
    if pd.api.types.is_datetime64_any_dtype(s):
        d = pd.to_datetime(s)
        annual = ((d.dt.month == 12) & (d.dt.day == 31)).astype("boolean").mask(d.isna())
        return pd.DataFrame({"year": d.dt.year.astype("Int64"), "annual": annual, "ok": d.notna()}, index=s.index)
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        f = s.astype(float)
        txt = f.map(lambda v: str(int(v)) if float(v).is_integer() else str(v), na_action="ignore")
        return _parse_text(txt.astype("string"))
    txt = s.astype("string")
    nonascii = txt.str.contains(r"[^\x00-\x7f]", regex=True).fillna(False).astype(bool)
    if nonascii.any():  # full-width digits and letters (２０１９年报)
        txt = txt.copy()
        txt[nonascii] = txt[nonascii].map(lambda v: unicodedata.normalize("NFKC", v))
    return _parse_text(txt.str.strip())


def _parse_text(txt: pd.Series) -> pd.DataFrame:
    # a year column holds few distinct values: parse each once
    codes, uniques = pd.factorize(txt, use_na_sentinel=True)
    parsed = _parse_unique(pd.Series(list(uniques) + [pd.NA], dtype="string"))  # last row: a missing cell
    out = parsed.iloc[np.where(codes < 0, len(uniques), codes)]
    out.index = txt.index
    return out


def _parse_unique(txt: pd.Series) -> pd.DataFrame:
    m = txt.str.extract(PERIOD_PATTERN)
    year = pd.to_numeric(m["y1"].fillna(m["y2"]).fillna(m["y3"]), errors="coerce")
    month = pd.to_numeric(m["m1"].fillna(m["m2"]), errors="coerce")
    day = pd.to_numeric(m["d1"].fillna(m["d2"]), errors="coerce")
    has_date = month.notna()
    valid_date = has_date & month.between(1, 12) & day.between(1, 31)
    tag = m["tag"].str.lower()
    annual = pd.Series(pd.NA, index=txt.index, dtype="boolean")
    annual[has_date] = (month[has_date] == 12) & (day[has_date] == 31)
    tagged = tag.notna() & ~has_date
    annual[tagged] = tag[tagged].isin(_ANNUAL_TAGS)
    ok = year.notna() & (~has_date | valid_date)
    return pd.DataFrame({"year": year.where(ok).round().astype("Int64"), "annual": annual.where(ok),
                         "ok": ok.fillna(False).astype(bool)}, index=txt.index)
