"""Regression tables in the classic layout, rendered to Markdown and LaTeX.

Input is a tidy table, one row per model and term, with columns ``model, term, coef,
se, pvalue``, plus a footer per model such as ``{"N": 264, "clusters": 44,
"firm FE": True, "year FE": True}``. Output puts each coefficient with its stars
(``*`` p < 0.10, ``**`` p < 0.05, ``***`` p < 0.01) over its standard error in
parentheses, one column per model, and the footer rows below::

                 (1) TWFE: share   (2) TWFE: subsidy
    treated      0.0123***         0.0045
                 (0.0031)          (0.0040)
    N            264               264
    firm FE      Yes               Yes
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import ConfigError
from ..estimate.results import DEPRECATED_COLUMNS, EstimateResult, regression_table, stars
from .safety import safe_output_path

__all__ = [
    "STAR_LEVELS",
    "stars",
    "regression_layout",
    "to_markdown",
    "to_latex",
    "write_regression_tables",
]

#: (p-value threshold, marker), strictest first: p < 0.01 gives ``***``.
STAR_LEVELS: tuple[tuple[float, str], ...] = ((0.01, "***"), (0.05, "**"), (0.10, "*"))
FOOTER_ORDER = ("N", "clusters", "Clusters", "firm FE", "year FE")
LAST_FOOTER = ("Standard errors",)
NOTE = "Standard errors in parentheses. * p<0.10, ** p<0.05, *** p<0.01."
_REQUIRED = ("model", "term", "estimate", "std_error")


def _legacy_names(tidy: pd.DataFrame) -> pd.DataFrame:
    """Rename the release-0.1 column names (``coef``, ``se``, ``p``/``pvalue``, …) to the tidy schema."""
    old = {k: v for k, v in DEPRECATED_COLUMNS.items() if k in tidy.columns and v not in tidy.columns}
    return tidy.rename(columns=old) if old else tidy


def _coerce(table: Any, footer: Mapping | None) -> tuple[pd.DataFrame, dict, list[str]]:
    """Coefficient rows (tidy schema), footer per model and notes, from results or a table.

    ``table`` is a fitted result of this package or a list of them (built with
    :func:`~finsupport.estimate.results.regression_table`), the long table that function
    returns (footer rows have ``kind`` ≠ ``"coef"`` and their entry in ``value``), a
    tidy DataFrame with ``model, term, estimate, std_error, p_value`` (footer in
    ``footer`` or ``attrs["footer"]``), or an object with a ``tidy`` table and a ``footer``.
    """
    if isinstance(table, EstimateResult):
        table = [table]
    if isinstance(table, list | tuple) and table and all(isinstance(r, EstimateResult) for r in table):
        table = regression_table(*table)
    if isinstance(table, pd.DataFrame):
        tidy, foot = table, footer if footer is not None else table.attrs.get("footer")
    else:
        tidy = getattr(table, "tidy", None)
        tidy = tidy() if callable(tidy) else tidy
        foot = footer if footer is not None else getattr(table, "footer", None)
        if not isinstance(tidy, pd.DataFrame):
            raise ConfigError(f"expected a fitted result, a tidy regression table (DataFrame with columns "
                              f"{', '.join(_REQUIRED)}, p_value) or an object with a .tidy table; got "
                              f"{type(table).__name__}")
    notes = list(tidy.attrs.get("notes", []))
    foot = {str(k): dict(v) for k, v in (foot or {}).items()}
    tidy = _legacy_names(pd.DataFrame(tidy))
    if "kind" in tidy.columns:  # footer rows inside the table; an explicit footer wins over them
        for r in tidy[tidy["kind"] != "coef"].itertuples(index=False):
            foot.setdefault(str(r.model), {}).setdefault(str(r.term), getattr(r, "value", None))
        tidy = tidy[tidy["kind"] == "coef"]
    missing = [c for c in _REQUIRED if c not in tidy.columns]
    if missing:
        raise ConfigError(f"regression table lacks column(s) {', '.join(missing)}; it needs model, term, "
                          "estimate, std_error and p_value (one row per model and term)")
    dup = tidy.duplicated(["model", "term"])
    if dup.any():
        first = tidy.loc[dup, ["model", "term"]].iloc[0]
        raise ConfigError(f"regression table has more than one row for model {first['model']!r}, "
                          f"term {first['term']!r}")
    return tidy, foot, notes


def _num(x: Any, digits: int) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return ""
    if math.isnan(v):
        return ""
    text = f"{v:.{digits}f}"
    if text.startswith("-") and float(text) == 0:
        text = text[1:]
    return text


def _footer_value(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, bool):
        return "Yes" if v else "No"
    if isinstance(v, int) or (isinstance(v, float) and v.is_integer()):
        return f"{int(v):,}"
    return str(v)


def _grid(table: Any, footer: Mapping | None, digits: int, term_labels: Mapping | None
          ) -> tuple[list[str], list[tuple[str, str, list[tuple[str, str]]]], list[str]]:
    """Models, rows ``(kind, label, [(number, stars)] per model)`` (kind coef, se or footer), notes."""
    tidy, foot, notes = _coerce(table, footer)
    models = [str(m) for m in pd.unique(tidy["model"].astype(str))]
    for m in foot:
        if m not in models:
            models.append(m)
    terms = list(pd.unique(tidy["term"].astype(str)))
    labels = dict(term_labels or {})
    cells = {(str(r.model), str(r.term)): r for r in tidy.itertuples(index=False)}
    has_p = "p_value" in tidy.columns
    rows: list[tuple[str, str, list[tuple[str, str]]]] = []
    for t in terms:
        coef, se = [], []
        for m in models:
            r = cells.get((m, t))
            if r is None:
                coef.append(("", ""))
                se.append(("", ""))
                continue
            c = _num(r.estimate, digits)
            coef.append((c, stars(r.p_value) if has_p and c else ""))
            s = _num(r.std_error, digits)
            se.append((f"({s})" if s else "", ""))
        rows.append(("coef", str(labels.get(t, t)), coef))
        rows.append(("se", "", se))
    keys = [k for k in FOOTER_ORDER if any(k in f for f in foot.values())]
    keys += [k for f in foot.values() for k in f if k not in keys and k not in LAST_FOOTER]
    keys += [k for k in LAST_FOOTER if any(k in f for f in foot.values())]
    keys = list(dict.fromkeys(keys))
    for k in keys:
        rows.append(("footer", k, [(_footer_value(foot.get(m, {}).get(k)), "") for m in models]))
    return models, rows, notes


def regression_layout(table: Any, footer: Mapping | None = None, *, digits: int = 4,
                      term_labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The classic regression-table grid as a DataFrame of strings (for a worksheet or a CSV).

    Parameters
    ----------
    table : pandas.DataFrame or object
        Tidy table with columns ``model, term, coef, se, pvalue`` (one row per
        model and term), or an object with such a ``tidy`` attribute or method
        and an optional ``footer``.
    footer : mapping, optional
        ``{model: {"N": ..., "clusters": ..., "firm FE": bool, "year FE": bool}}``;
        defaults to ``table.attrs["footer"]`` or the object's ``footer``.
    digits : int, default 4
        Decimals of coefficients and standard errors.
    term_labels : mapping, optional
        Display names of terms.

    Returns
    -------
    pandas.DataFrame
        First column ``""`` (term labels), then one column per model; for each
        term a coefficient row (with stars) and a standard-error row, then the
        footer rows.

    Raises
    ------
    finsupport.errors.ConfigError
        If a required column is missing or a model has a term twice.
    """
    models, rows, notes = _grid(table, footer, digits, term_labels)
    data = [[label] + [n + s for n, s in vals] for _, label, vals in rows]
    grid = pd.DataFrame(data, columns=["", *models])
    grid.attrs["notes"] = notes
    return grid


def _md(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*").replace("\n", " ")


def to_markdown(table: Any, footer: Mapping | None = None, *, digits: int = 4,
                term_labels: Mapping[str, str] | None = None, note: str | None = NOTE) -> str:
    """Render a regression table as a GitHub-flavoured Markdown table.

    Parameters
    ----------
    table : pandas.DataFrame or object
        See :func:`regression_layout`.
    footer : mapping, optional
        Footer rows per model (N, clusters, firm FE, year FE, …).
    digits : int, default 4
        Decimals.
    term_labels : mapping, optional
        Display names of terms.
    note : str or None
        Line under the table (stars and standard errors); None for none.

    Returns
    -------
    str
        Markdown text ending in a newline. Stars are escaped (``\\*``) so that
        they render as stars, not emphasis.

    Examples
    --------
    >>> import pandas as pd
    >>> tidy = pd.DataFrame({"model": ["(1)"], "term": ["treated"], "coef": [0.0123],
    ...                      "se": [0.0031], "pvalue": [0.0004]})
    >>> print(to_markdown(tidy, {"(1)": {"N": 264, "firm FE": True}}, note=None))
    |  | (1) |
    |---|---:|
    | treated | 0.0123\\*\\*\\* |
    |  | (0.0031) |
    | N | 264 |
    | firm FE | Yes |
    <BLANKLINE>
    """
    models, rows, notes = _grid(table, footer, digits, term_labels)
    lines = ["|  | " + " | ".join(_md(m) for m in models) + " |",
             "|---|" + "---:|" * len(models)]
    for _, label, vals in rows:
        lines.append(f"| {_md(label)} | " + " | ".join(_md(n + s) for n, s in vals) + " |")
    text = "\n".join(lines) + "\n"
    below = [*([note] if note else []), *notes]  # the stars, then how each model's errors were computed
    if below:
        text += "\n" + "  \n".join(_md(n) for n in below) + "\n"
    return text


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
        "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}",
        ">": r"\textgreater{}"}


def _tex(text: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in text)


def _tex_num(number: str, mark: str) -> str:
    if number.startswith("-"):
        number = "$-$" + number[1:]
    elif number.startswith("(-"):
        number = "($-$" + number[2:]
    return number + (f"$^{{{mark}}}$" if mark else "")


def to_latex(table: Any, footer: Mapping | None = None, *, digits: int = 4,
             term_labels: Mapping[str, str] | None = None, caption: str | None = None,
             label: str | None = None, note: str | None = NOTE) -> str:
    """Render a regression table as a LaTeX ``tabular`` (booktabs rules).

    Parameters
    ----------
    table : pandas.DataFrame or object
        See :func:`regression_layout`.
    footer : mapping, optional
        Footer rows per model (N, clusters, firm FE, year FE, …).
    digits : int, default 4
        Decimals.
    term_labels : mapping, optional
        Display names of terms (escaped for LaTeX).
    caption, label : str, optional
        If either is given the tabular is wrapped in a ``table`` float.
    note : str or None
        Note row under the table; None for none.

    Returns
    -------
    str
        LaTeX source; needs ``\\usepackage{booktabs}``. Columns are numbered
        ``(1), (2), …`` above the model names.
    """
    models, rows, notes = _grid(table, footer, digits, term_labels)
    k = len(models)
    out = ["% requires \\usepackage{booktabs}", f"\\begin{{tabular}}{{l*{{{k}}}{{c}}}}", "\\toprule",
           " & " + " & ".join(f"({i})" for i in range(1, k + 1)) + " \\\\",
           " & " + " & ".join(_tex(m) for m in models) + " \\\\", "\\midrule"]
    footer_started = False
    for kind, lab, vals in rows:
        if kind == "footer" and not footer_started:
            out.append("\\midrule")
            footer_started = True
        cells = [_tex(n) if kind == "footer" else _tex_num(n, s) for n, s in vals]
        out.append(f"{_tex(lab)} & " + " & ".join(cells) + " \\\\")
    out.append("\\bottomrule")
    if note:
        tex_note = _tex(note)
        for _, mark in STAR_LEVELS:   # render the stars of the note as superscripts
            tex_note = tex_note.replace(f"{mark} p", f"$^{{{mark}}}$ p")
        out.append(f"\\multicolumn{{{k + 1}}}{{l}}{{\\footnotesize {tex_note}}} \\\\")
    for n in notes:
        out.append(f"\\multicolumn{{{k + 1}}}{{l}}{{\\footnotesize {_tex(n)}}} \\\\")
    out.append("\\end{tabular}")
    body = "\n".join(out) + "\n"
    if caption is None and label is None:
        return body
    head = ["\\begin{table}[htbp]", "\\centering"]
    if caption is not None:
        head.append(f"\\caption{{{_tex(caption)}}}")
    if label is not None:
        head.append(f"\\label{{{label}}}")
    return "\n".join(head) + "\n" + body + "\\end{table}\n"


def write_regression_tables(table: Any, folder: str | os.PathLike, *, footer: Mapping | None = None,
                            stem: str = "regressions", formats: Sequence[str] = ("md", "tex"),
                            **options: Any) -> dict[str, Path]:
    """Write a regression table as Markdown and/or LaTeX files into ``folder``.

    Parameters
    ----------
    table : pandas.DataFrame or object
        See :func:`regression_layout`.
    folder : str or os.PathLike
        Existing output folder.
    footer : mapping, optional
        Footer rows per model.
    stem : str, default "regressions"
        File name without extension; must be a bare name.
    formats : sequence of {"md", "tex"}
        Which files to write.
    **options
        Passed to :func:`to_markdown` / :func:`to_latex` (``digits``, ``term_labels``, ``note``).

    Returns
    -------
    dict
        Format -> path written.

    Raises
    ------
    finsupport.errors.ConfigError
        For an unknown format or a stem with path components.
    """
    render = {"md": to_markdown, "tex": to_latex}
    out: dict[str, Path] = {}
    for fmt in formats:
        if fmt not in render:
            raise ConfigError(f"unknown regression-table format {fmt!r}; use 'md' or 'tex'")
        path = safe_output_path(folder, f"{stem}.{fmt}")
        path.write_text(render[fmt](table, footer, **options), encoding="utf-8", newline="\n")
        out[fmt] = path
    return out
