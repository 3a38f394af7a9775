"""Wide panels (one column per report period, Wind's usual layout) to one row per firm-year.

A Wind export for several years repeats each indicator once per report period, the
period written in the header: ``营业收入[报告期]2019年报[单位]万元``,
``营业收入\\n[报告期]2020年报\\n[单位]万元`` … . :func:`reshape_wide` turns such a grid into
rows of (identifying columns, ``year``, one column per indicator), so that the rest of
the reader sees an ordinary long table. Columns of interim periods (中报, 三季报,
06-30 …) are left out and logged; so are firm-years whose cells are all empty.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .mapping import PERIOD_TAGS, header_key, is_parent_statement, split_header
from .periods import parse_periods

__all__ = ["WideReshape", "reshape_wide"]

_UNIT_ZH = {"yuan": "元", "thousand": "千元", "wan": "万元", "million": "百万元", "ten_million": "千万元", "yi": "亿元"}


@dataclass
class WideReshape:
    header: list[str]
    labels: list[list[str]]
    grid: list[list]
    index: list
    years: list[int]
    interim_columns: list[str]
    empty_firm_years: int
    rows_in: int


def _without_period(raw: str) -> str:
    """The header with its period tag removed (``营业收入[报告期]2019年报[单位]万元`` → ``营业收入[单位]万元``)."""
    import re

    from .mapping import nfkc

    text = nfkc(str(raw))
    pat = r"[\[【]\s*(?:" + "|".join(PERIOD_TAGS) + r")\s*[\]】]\s*[:：]?\s*[^\[【\r\n]*"
    return re.sub(r"\n\s*\n", "\n", re.sub(pat, "", text)).strip()


def _common_units(header: list[str], names: list[str], col_of: dict) -> tuple[dict[int, int], list[str]]:
    """One unit per indicator: period columns in larger units are rescaled (exactly) to the smallest one.

    ``营业收入[报告期]2019年报[单位]万元`` and ``营业收入[报告期]2020年报[单位]亿元`` become one column in
    万元, the 2020 values multiplied by 10,000. Returns source column -> factor and the output headers.
    """
    from ..errors import DataError
    from .mapping import parse_unit

    scale: dict[int, int] = {}
    out = list(names)
    for oc, name in enumerate(names):
        cols = [j for (o, _), j in col_of.items() if o == oc]
        units = {j: split_header(header[j]).unit_text for j in cols}
        if len({u for u in units.values()}) <= 1:
            continue
        parsed = {j: (parse_unit(u, strict=False) if u else None) for j, u in units.items()}
        if any(p is None for p in parsed.values()):
            raise DataError(problems=[{
                "table": "", "column": split_header(name).base,
                "message": "the report-period columns of one indicator give different units, and not all of "
                           f"them can be read ({', '.join(sorted({str(u) for u in units.values()}))})",
                "hint": "export every period in the same unit, or write the unit in every header ([单位]万元)"}])
        smallest = min(parsed.values(), key=lambda p: p[1])
        for j, p in parsed.items():
            if p[1] != smallest[1]:
                scale[j] = p[1] // smallest[1]
        first = min(cols)
        base = split_header(_without_period(header[first])).base
        out[oc] = f"{base}[单位]{_UNIT_ZH[smallest[0]]}"
    return scale, out


def _scaled(v, factor: int | None):
    """A cell multiplied exactly by ``factor`` (text and numbers; anything else unchanged)."""
    if not factor or v is None:
        return v
    from decimal import Decimal, InvalidOperation

    if isinstance(v, bool):
        return v
    try:
        d = Decimal(repr(v)) if isinstance(v, float) else Decimal(str(v).replace(",", "").strip())
    except (InvalidOperation, ValueError):
        return v  # not a number: validation reports it
    if not d.is_finite():
        return v
    return format(d * factor, "f")


def reshape_wide(header: list[str], labels: list[list[str]], grid: list[list], index: list, *,
                 year_columns: list[int] = ()) -> WideReshape | None:
    """Reshape a grid whose headers carry report periods; ``None`` when no header carries one.

    ``year_columns``: columns that already hold the year of each row. A long table whose
    headers name the same single period as every row's year needs no reshaping; headers
    whose period differs from the rows' years are an error (the values would land in the
    wrong year).
    """
    from ..errors import DataError

    parts = [split_header(h) for h in header]
    periods = [p.period for p in parts]
    pcols = [j for j, p in enumerate(periods) if p]
    if not pcols:
        return None
    parsed = parse_periods(pd.Series([periods[j] for j in pcols], dtype="string"))
    year_columns = [j for j in year_columns if not periods[j]]
    if year_columns:
        row_years = parse_periods(pd.Series([r[year_columns[0]] for r in grid], dtype=object).astype("string"))
        tagged = set(parsed["year"].dropna().astype(int))
        rows = set(row_years["year"].dropna().astype(int))
        if len(tagged) == 1 and rows <= tagged:
            return None
        raise DataError(problems=[{
            "table": "", "column": " ".join(header[year_columns[0]].split()),
            "message": f"the headers name the report period(s) {sorted(tagged)} but the rows' year column holds "
                       f"{sorted(rows)[:5]}{' …' if len(rows) > 5 else ''}: the values would land in the wrong year",
            "hint": "export one report period per row (a long table) or remove the year column so that the "
                    "period in each header gives the year"}])
    bad = [header[j] for j, ok in zip(pcols, parsed["ok"], strict=True) if not ok]
    if bad:
        raise DataError(problems=[{
            "table": "", "column": ", ".join(" ".join(b.split()) for b in bad[:3]),
            "message": "the report period in the header is not a year or a report date "
                       f"({', '.join(repr(periods[header.index(b)]) for b in bad[:3])})",
            "hint": "export annual report periods (2019年报, 2019-12-31) or rename the columns"}])
    id_cols = [j for j in range(len(header)) if not periods[j]]
    is_interim = [(a is not pd.NA and not bool(a)) or is_parent_statement(parts[j])
                  for j, a in zip(pcols, parsed["annual"], strict=True)]
    interim = [header[j] for j, no in zip(pcols, is_interim, strict=True) if no]
    annual_cols = [(j, int(y)) for j, y, no in zip(pcols, parsed["year"], is_interim, strict=True) if not no]
    # one output column per indicator, in order of first appearance; the unit may differ by period
    names: list[str] = []
    key_of: dict[str, int] = {}
    col_of: dict[tuple[int, int], int] = {}  # (output column, year) -> source column
    for j, y in annual_cols:
        name = _without_period(header[j])
        k = header_key(split_header(name).base)
        if k not in key_of:
            key_of[k] = len(names)
            names.append(name)
        oc = key_of[k]
        if (oc, y) in col_of:
            other = " ".join(header[col_of[(oc, y)]].split())
            raise DataError(problems=[{
                "table": "", "column": split_header(name).base,
                "message": f"two columns give {split_header(name).base!r} for the period {y}: {other!r} and "
                           f"{' '.join(header[j].split())!r}",
                "hint": "keep one column per indicator and report period (for example the consolidated "
                        "statement, not also its restated version)"}])
        col_of[(oc, y)] = j
    scale, names = _common_units(header, names, col_of)
    years = sorted({y for _, y in annual_cols})
    out_header = [header[j] for j in id_cols] + ["year"] + names
    first_src = {oc: j for (oc, _), j in sorted(col_of.items(), key=lambda kv: kv[1], reverse=True)}
    out_labels = [labels[j] for j in id_cols] + [[]] + [labels[first_src[oc]] for oc in range(len(names))]
    out_grid: list[list] = []
    out_index: list = []
    empty = 0
    for i, row in zip(index, grid, strict=True):
        ids = [row[j] for j in id_cols]
        for y in years:
            vals = [_scaled(row[col_of[(oc, y)]], scale.get(col_of[(oc, y)])) if (oc, y) in col_of else None
                    for oc in range(len(names))]
            if all(v is None or (isinstance(v, str) and not v.strip()) or (isinstance(v, float) and v != v)
                   for v in vals):
                empty += 1
                continue
            out_grid.append(ids + [y] + vals)
            out_index.append(f"{i} ({y})")
    return WideReshape(out_header, out_labels, out_grid, out_index, years, interim, empty, len(grid))
