"""Run configuration: a TOML file that fully describes a run.

Every key is checked: an unknown key or a bad value raises :class:`ConfigError`
naming the key (``measure.subsidy_basis``) and what is allowed. Paths are relative to
the config file. ``DEFAULT_CONFIG_TOML`` is the commented config that runs the
embedded default dataset.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .data.spec import TIERS
from .errors import ConfigError

__all__ = ["Config", "load_config", "DEFAULT_CONFIG_TOML", "SCHEMA"]


def _choice(*allowed):
    def check(key, v):
        if v not in allowed:
            raise ConfigError(f"{key} = {v!r} is not allowed; use one of {', '.join(map(repr, allowed))}")
        return v
    check.doc = " | ".join(map(repr, allowed))
    return check


def _typed(t, *, min_value=None, max_value=None):
    def check(key, v):
        if t is float and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        if not isinstance(v, t) or isinstance(v, bool) and t is not bool:
            raise ConfigError(f"{key} = {v!r} must be of type {t.__name__}")
        if min_value is not None and v < min_value:
            raise ConfigError(f"{key} = {v!r} must be at least {min_value}")
        if max_value is not None and v > max_value:
            raise ConfigError(f"{key} = {v!r} must be at most {max_value}")
        return v
    return check


def _list_of(t, allowed=None):
    def check(key, v):
        if not isinstance(v, list) or not all(isinstance(x, t) and not isinstance(x, bool) for x in v):
            raise ConfigError(f"{key} must be a list of {t.__name__}, got {v!r}")
        if allowed is not None:
            bad = [x for x in v if x not in allowed]
            if bad:
                raise ConfigError(f"{key}: {bad} not allowed; use any of {', '.join(map(repr, allowed))}")
        return v
    return check


def _year_range(key, v):
    if v == [] or v is None:
        return []
    if not (isinstance(v, list) and len(v) == 2 and all(isinstance(x, int) for x in v) and v[0] <= v[1]):
        raise ConfigError(f"{key} must be [first, last] with first ≤ last (inclusive years), got {v!r}")
    return v


def _window(key, v):
    if not (isinstance(v, list) and len(v) == 2 and all(isinstance(x, int) for x in v) and v[0] < 0 <= v[1]):
        raise ConfigError(f"{key} must be [lower, upper] with lower < 0 ≤ upper, got {v!r}")
    return v


def _mapping(key, v):
    if not isinstance(v, dict):
        raise ConfigError(f"{key} must be a table of source header = contract column")
    return v


def _units(key, v):
    """One unit for every monetary table (``"wan"``) or one per table/column (``{ financials = "wan" }``)."""
    from .data.mapping import normalise_units

    if not isinstance(v, str | dict):
        raise ConfigError(f"{key} must be a unit such as \"wan\" (every table) or a table such as "
                          f"{{ financials = \"wan\" }}, got {v!r}")
    try:
        normalise_units(v)
    except ConfigError as e:
        raise ConfigError(f"{key}: {e}") from None
    return v


def _measure_schema() -> dict[str, tuple[Any, Any]]:
    """[measure] keys, validators and defaults from :class:`~finsupport.measure.options.MeasureOptions`."""
    from .measure.options import FIELDS, MeasureOptions

    def checker(spec):
        def check(key, v):
            v = spec.check(key, v)
            return list(v) if isinstance(v, tuple) else v
        return check

    defaults = MeasureOptions().to_dict()
    return {k: (checker(spec), defaults[k]) for k, spec in FIELDS.items()}


def _grid(section: str):
    """``[sensitivity.measure]`` / ``[sensitivity.estimate]``: option = list of values to try,
    each value checked as the ``[measure]`` / ``[analysis]`` key of the same name is."""
    def check(key, v):
        from .sensitivity.specs import validate_grid

        if not isinstance(v, dict):
            raise ConfigError(f"{key} must be a table of option = [values to try]")
        return {k: [list(x) if isinstance(x, tuple) else x for x in vals]
                for k, vals in validate_grid(section, v, prefix=key).items()}
    return check


def _scheduler(key, v):
    if not isinstance(v, str) or not (v in ("", "sync", "local") or "://" in v):
        raise ConfigError(f"{key} = {v!r} is not allowed; use \"\" (a local Dask cluster when dask.distributed "
                          "is installed, else this process), \"sync\", \"local\" or an address such as "
                          "\"tcp://host:8786\"")
    return v


OUTCOMES = ("share", "subsidy_share", "equity_share", "debt_share", "log_revenue", "rd_intensity", "leverage",
            "effective_rate", "revenue_growth", "patents")


def _outcomes(key, v):
    """Derived outcomes (:data:`OUTCOMES`) or names of numeric financials columns (checked when the data are read)."""
    _list_of(str)(key, v)
    if not v:
        raise ConfigError(f"{key} is empty; name at least one outcome, e.g. [\"share\"]")
    bad = [x for x in v if x not in OUTCOMES and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", x)]
    if bad:
        raise ConfigError(f"{key}: {bad} are not outcome names; use derived outcomes ({', '.join(OUTCOMES)}) or "
                          f"column names of the financials table (letters, digits, underscores)")
    dup = sorted({x for x in v if v.count(x) > 1})
    if dup:
        raise ConfigError(f"{key}: {dup} listed twice")
    return v


def _nonneg_floats(key, v):
    if not isinstance(v, list) or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
        raise ConfigError(f"{key} must be a list of numbers, got {v!r}")
    if any(not (x >= 0 and x < float("inf")) for x in v):
        raise ConfigError(f"{key}: values must be finite and ≥ 0, got {v!r}")
    return [float(x) for x in v]


def _honest_target(key, v):
    if v == "average" or (isinstance(v, int) and not isinstance(v, bool) and v >= 0):
        return v
    raise ConfigError(f"{key} must be \"average\" or a post-treatment event time (0, 1, …), got {v!r}")


def _check_analysis(a: dict) -> None:
    """Checks across [analysis] keys."""
    if a["honest_did"]:
        if not {"event_study", "att_gt"} & set(a["estimators"]):
            raise ConfigError("analysis.honest_did is a sensitivity of the event study and of att_gt's dynamic "
                              "aggregation; add \"event_study\" or \"att_gt\" to analysis.estimators")
        if "att_gt" in a["estimators"] and a["base_period"] != "universal":
            raise ConfigError("analysis.honest_did on att_gt's dynamic aggregation needs analysis.base_period = "
                              "\"universal\" (event-study coefficients against one reference period)")
        if "att_gt" in a["estimators"] and a["anticipation"]:
            raise ConfigError("analysis.honest_did needs the reference period at e = -1: set analysis.anticipation = 0")

#: section -> key -> (validator, default)
SCHEMA: dict[str, dict[str, tuple[Any, Any]]] = {
    "run": {
        "name": (_typed(str), "report"),
        "seed": (_typed(int, min_value=0), 20240101),
        "output_dir": (_typed(str), "reports"),
        "title": (_typed(str), "State financial support and certification"),
    },
    "data": {
        "path": (_typed(str), None),
        "preset": (_choice("", "csmar", "wind", "industrial_survey"), ""),
        "units": (_units, {}),
        "mapping": (_mapping, {}),
        "synthetic": (_typed(bool), False),
        "description": (_typed(str), ""),
    },
    "sample": {
        "years": (_year_range, []),
        "sectors": (_list_of(str), []),
        "firms": (_list_of(str), []),
        "tier": (_choice(*TIERS), "little_giant"),
    },
    # built from MeasureOptions: the options are declared and checked in one place
    "measure": _measure_schema(),
    "shares": {
        "years": (_year_range, []),
        "headline_cohorts": (_list_of(int), []),
    },
    "analysis": {
        "enabled": (_typed(bool), True),
        "outcomes": (_outcomes, ["share"]),
        "estimators": (_list_of(str, ("twfe", "event_study", "att_gt", "sun_abraham", "imputation", "bacon")),
                       ["twfe", "event_study", "att_gt"]),
        "control_group": (_choice("never_treated", "not_yet_treated"), "not_yet_treated"),
        "method": (_choice("dr", "ipw", "reg"), "dr"),
        "covariates": (_list_of(str, ("log_revenue_pre", "rd_intensity_pre", "leverage_pre")), []),
        "bootstrap": (_typed(int, min_value=0, max_value=100000), 999),
        "event_window": (_window, [-4, 4]),
        "cluster": (_choice("unit", "none"), "unit"),
        "inference": (_choice("analytic", "wild"), "analytic"),
        "by": (_choice("", "criteria", "subsidiary", "sector"), ""),
        "wild_weights": (_choice("rademacher", "webb"), "rademacher"),
        "alpha": (_typed(float, min_value=0.001, max_value=0.5), 0.05),
        "base_period": (_choice("varying", "universal"), "varying"),
        "anticipation": (_typed(int, min_value=0, max_value=5), 0),
        # sensitivity to parallel trends (Rambachan & Roth 2023) of the event study and the dynamic aggregation
        "honest_did": (_choice("", "relative_magnitudes", "smoothness"), ""),
        "honest_mbar": (_nonneg_floats, [0.0, 0.5, 1.0, 1.5, 2.0]),
        "honest_m": (_nonneg_floats, []),
        "honest_target": (_honest_target, "average"),
    },
    "sensitivity": {
        "enabled": (_typed(bool), False),
        "mode": (_choice("full", "one_at_a_time"), "full"),
        "scheduler": (_scheduler, ""),
        "measure": (_grid("measure"), {}),
        "estimate": (_grid("estimate"), {}),
    },
    "output": {
        "figures": (_list_of(str, ("png", "pdf")), ["png", "pdf"]),
        "tables": (_list_of(str, ("md", "tex", "csv")), ["md", "tex"]),
        "progress": (_typed(bool), True),
    },
    "report": {
        # tables longer than this go beside the workbook (Parquet or CSV); the sheet keeps a summary.
        # At most 1,000,000 so that a sheet with its title, notes and blocks stays within Excel's 1,048,576 rows.
        "max_sheet_rows": (_typed(int, min_value=1, max_value=1_000_000), 100_000),
        "detail_format": (_choice("parquet", "csv"), "parquet"),
        # amounts in the workbook, tables and figures: yuan, 万元 (10,000 yuan) or 亿元 (100 million yuan)
        "amount_unit": (_choice("yuan", "wan", "yi"), "yuan"),
    },
}


@dataclass
class Config:
    """A validated run configuration (``values``: section → key → value) and where it came from."""

    values: dict[str, dict[str, Any]]
    base_dir: Path = field(default_factory=Path.cwd)
    source: str = "<dict>"

    def __getitem__(self, section: str) -> dict[str, Any]:
        return self.values[section]

    @property
    def measure_options(self):
        """The ``[measure]`` section as a validated :class:`~finsupport.measure.options.MeasureOptions`."""
        from .measure.options import MeasureOptions

        return MeasureOptions.from_mapping(self.values["measure"])

    @property
    def data_path(self) -> Path | None:
        p = self.values["data"]["path"]
        return None if p is None else (self.base_dir / p).resolve()

    def resolved(self) -> dict[str, Any]:
        """The full configuration with defaults filled in (what the manifest records)."""
        out = copy.deepcopy(self.values)
        if out["data"]["path"] is not None:
            out["data"]["path"] = str(Path(out["data"]["path"]))
        return out

    def hash(self) -> str:
        """sha256 of the resolved configuration as canonical JSON."""
        return hashlib.sha256(json.dumps(self.resolved(), sort_keys=True).encode()).hexdigest()


def load_config(source: str | Path | dict | Config | None = None, *, base_dir: str | Path | None = None) -> Config:
    """Read and validate a run configuration.

    Parameters
    ----------
    source : path to a TOML file, a dict of the same shape, a Config, or None
        ``None`` gives the configuration of the embedded default run.
    base_dir : path, optional
        What relative paths are relative to (default: the TOML file's folder, or the
        working directory for a dict).
    """
    if isinstance(source, Config):
        return source
    if source is None:
        raw, base, name = tomllib.loads(DEFAULT_CONFIG_TOML), Path.cwd(), "<embedded default>"
        raw["data"].pop("path", None)
    elif isinstance(source, dict):
        raw, base, name = copy.deepcopy(source), Path(base_dir or Path.cwd()), "<dict>"
    else:
        path = Path(source)
        if path.is_dir():
            path = path / "config.toml"
        if not path.is_file():
            raise ConfigError(f"config file '{source}' not found; create one with `finsupport example DIR`")
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"config file '{path.name}' is not valid TOML: {e}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"config file '{path.name}' is not UTF-8 text") from None
        base, name = Path(base_dir or path.parent), str(path.name)
    values: dict[str, dict[str, Any]] = {}
    unknown_sections = set(raw) - set(SCHEMA)
    if unknown_sections:
        raise ConfigError(f"unknown section(s) [{'], ['.join(sorted(unknown_sections))}] in {name}; "
                          f"known sections: {', '.join(SCHEMA)}")
    for section, keys in SCHEMA.items():
        given = raw.get(section, {})
        if not isinstance(given, dict):
            raise ConfigError(f"[{section}] must be a table")
        unknown = set(given) - set(keys)
        if unknown:
            raise ConfigError(f"unknown key(s) {', '.join(f'{section}.{k}' for k in sorted(unknown))} in {name}; "
                              f"known keys of [{section}]: {', '.join(keys)}")
        values[section] = {}
        for key, (check, default) in keys.items():
            if key in given:
                values[section][key] = check(f"{section}.{key}", given[key])
            else:
                values[section][key] = copy.deepcopy(default)
    _check_analysis(values["analysis"])
    g = raw.get("sensitivity") if isinstance(raw.get("sensitivity"), dict) else {}
    if "enabled" not in g and (g.get("measure") or g.get("estimate")):
        values["sensitivity"]["enabled"] = True   # a grid written out is a grid wanted
    cfg = Config(values=values, base_dir=base, source=name)
    cfg.measure_options  # noqa: B018 -- checks the [measure] options together, as support_flows will
    return cfg


DEFAULT_CONFIG_TOML = '''\
# finsupport run configuration. Run it with:  finsupport run config.toml
# Paths are relative to this file. Unknown keys are errors.

[run]
name = "robotics44"                 # the report is written to <output_dir>/<name>.xlsx
seed = 20240101                     # seeds the multiplier bootstrap; same seed, same numbers
output_dir = "reports"
title = "State support to Little Giant robotics firms (synthetic example)"

[data]
path = "."                          # a folder of CSV/Parquet files named after the tables, or one .xlsx workbook
preset = ""                         # "" | "csmar" | "wind" | "industrial_survey": exports as they come
units = {}                          # "wan" when every amount is in 10,000 yuan (a unit in a header wins);
                                    # { financials = "wan", grants = "yuan" } for one unit per table
mapping = {}                        # e.g. { financials = { "营业收入" = "revenue" } }
synthetic = true                    # the embedded example is synthetic: the report says so
description = "robotics44: synthetic panel calibrated to a published study of 44 Little Giant robotics firms"

[sample]
years = [2014, 2022]                # inclusive; [] = all years in the data
sectors = []                        # [] = all sectors
firms = []                          # [] = all firms
tier = "little_giant"               # the certification studied

[measure]
components = ["subsidy", "equity", "debt"]   # in total and share; also "tax", "land" (all five: the extended view)
subsidy_basis = "received"          # "received" | "cvd" (19 CFR 351.524) | "straight_line"
equity_basis = "gross"              # "gross" | "grant_equivalent" (19 CFR 351.507)
benchmark = "lpr_1y"                # "lpr_1y" | "lpr_5y": PBOC benchmark, then LPR from 2019-08-20
spread_bp = 0.0                     # basis points added to the benchmark
aul_years = 10                      # average useful life for allocated grants
expense_threshold = 0.005           # 0.5 % of sales expense test (351.524(b)(2))
state_investor_types = ["guidance_fund", "state_vc", "soe", "government"]
first_year_debt = "closing"         # "closing" | "exclude": a firm's first year has no opening debt
tax_basis = "auto"                  # "auto" | "preferential" (HNTE, small low-profit, R&D deduction) | "effective"
tax_timing = "accrual"              # "accrual" | "cvd": year the return is filed (19 CFR 351.509(b)(1))
land_benchmark = "user"             # "user" (land_benchmarks table) | "median_comparables" (not a CVD benchmark)
land_allocation = "term"            # "term" of the use right | "aul" | "purchase_year"

[shares]
years = [2016, 2021]                # the headline period
headline_cohorts = [2019, 2020]     # headline firms: first designated in these years ([] = all certified)

[analysis]
enabled = true
outcomes = ["share", "subsidy_share"]
estimators = ["twfe", "event_study", "att_gt", "bacon"]   # also "sun_abraham", "imputation"; bacon: Goodman-Bacon weights
control_group = "not_yet_treated"   # "never_treated" | "not_yet_treated"
method = "dr"                       # "dr" | "ipw" | "reg"
covariates = []                     # att_gt covariates (pre-designation), e.g. ["log_revenue_pre", "rd_intensity_pre"]
bootstrap = 999                     # multiplier bootstrap draws for att_gt (0 = analytic standard errors)
event_window = [-4, 4]
cluster = "unit"                    # "unit" | "none"
inference = "analytic"              # "analytic" | "wild": wild cluster bootstrap (WCR) for twfe and event_study
wild_weights = "rademacher"         # "rademacher" | "webb" (few clusters)
by = ""                             # "" | "criteria" | "subsidiary" | "sector": att_gt by subgroup, equality test
alpha = 0.05
base_period = "varying"             # "varying" | "universal"
anticipation = 0

[sensitivity]
# How much the headline moves with the measurement rules (and, opt-in, the effect with the
# estimator): every combination ("full") or one option at a time ("one_at_a_time").
enabled = true                      # on by itself when a grid is written and this key is left out
mode = "full"
scheduler = "sync"                  # "sync" (this process) | "local" (Dask, one worker per core) |
                                    # "tcp://host:8786" | "" (local when dask.distributed is installed)

[sensitivity.measure]               # option = [values to try]; any [measure] key
subsidy_basis = ["received", "cvd", "straight_line"]
equity_basis = ["gross", "grant_equivalent"]
benchmark = ["lpr_1y", "lpr_5y"]
spread_bp = [0.0, 100.0]

[sensitivity.estimate]              # opt-in, e.g. estimator = ["twfe", "att_gt", "sun_abraham", "imputation"],
                                    # control_group = ["never_treated", "not_yet_treated"], method = ["dr", "reg"]

[output]
figures = ["png", "pdf"]
tables = ["md", "tex"]
progress = true

[report]
max_sheet_rows = 100000             # longer tables (firm-year flows, …) go beside the workbook; the sheet keeps a summary
detail_format = "parquet"           # "parquet" | "csv" (CSV also when pyarrow is not installed)
amount_unit = "yuan"                # amounts in the report: "yuan" | "wan" (万元) | "yi" (亿元)
'''
