"""Measurement options: one typed, validated object for Python, the run config and the report.

:class:`MeasureOptions` holds every choice that changes a measured amount. It is
validated once, when it is made (``MeasureOptions(...)``, :meth:`MeasureOptions.from_mapping`
for the ``[measure]`` section of a run config); :func:`finsupport.support_flows` and the
component measures only read it. :data:`FIELDS` describes each option (allowed values,
range, one-line help), and the run config builds its ``[measure]`` schema from it, so an
option is declared in one place. :meth:`MeasureOptions.rows` gives the rules in force as
label/value rows for a report's About sheet.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from ..data.spec import STATE_INVESTOR_TYPES
from ..errors import ConfigError

__all__ = ["MeasureOptions", "FIELDS", "ALL_COMPONENTS", "STUDY_COMPONENTS", "COMPONENT_LABELS", "FieldSpec"]

#: Every component finsupport measures, in report order.
ALL_COMPONENTS: tuple[str, ...] = ("subsidy", "equity", "debt", "tax", "land")
#: The components of the published study's headline (the default of ``components``).
STUDY_COMPONENTS: tuple[str, ...] = ("subsidy", "equity", "debt")

#: Label of each component in reports (and of the extended total).
COMPONENT_LABELS = {"subsidy": "Subsidies", "equity": "Guidance-fund equity", "debt": "Below-market debt",
                    "tax": "Tax concessions", "land": "Below-market land"}


@dataclass(frozen=True)
class FieldSpec:
    """How one option is checked: allowed values (``choices``) or a type with a range."""

    kind: str                       # choice | int | float | strings | components | firms
    choices: tuple[str, ...] = ()
    min_value: float | None = None
    max_value: float | None = None
    help: str = ""

    def check(self, key: str, v: Any) -> Any:
        """The value, normalised (lists become tuples); :class:`ConfigError` naming ``key`` otherwise."""
        if self.kind == "choice":
            if v not in self.choices:
                raise ConfigError(f"{key} = {v!r} is not allowed; use one of {', '.join(map(repr, self.choices))}")
            return v
        if self.kind in ("int", "float"):
            t = int if self.kind == "int" else float
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise ConfigError(f"{key} = {v!r} must be of type {t.__name__}")
            if t is int and not float(v).is_integer():
                raise ConfigError(f"{key} = {v!r} must be a whole number")
            v = t(v)
            if self.min_value is not None and v < self.min_value:
                raise ConfigError(f"{key} = {v!r} must be at least {self.min_value:g}")
            if self.max_value is not None and v > self.max_value:
                raise ConfigError(f"{key} = {v!r} must be at most {self.max_value:g}")
            return v
        if self.kind == "firms" and v is None:
            return None
        if isinstance(v, str) or not isinstance(v, Iterable):
            raise ConfigError(f"{key} must be a list of text, got {v!r}")
        items = tuple(v)
        if not all(isinstance(x, str) for x in items):
            raise ConfigError(f"{key} must be a list of text, got {v!r}")
        if self.kind == "components":
            bad = [x for x in items if x not in ALL_COMPONENTS]
            if bad:
                raise ConfigError(f"{key}: {bad} not allowed; use any of {', '.join(map(repr, ALL_COMPONENTS))}")
            if not items:
                raise ConfigError(f"{key} must name at least one component")
            if len(set(items)) < len(items):
                raise ConfigError(f"{key} names a component twice: {list(items)}")
            # report order, whatever order the user wrote
            return tuple(c for c in ALL_COMPONENTS if c in items)
        return items


#: option -> how it is checked. The run config's [measure] schema is built from this table.
FIELDS: dict[str, FieldSpec] = {
    "components": FieldSpec("components", help="components that enter total and share (default: the study's "
                                                "three); all five are measured and shown beside it"),
    "subsidy_basis": FieldSpec("choice", ("received", "cvd", "straight_line"),
                               help="received | cvd (19 CFR 351.524) | straight_line"),
    "equity_basis": FieldSpec("choice", ("gross", "grant_equivalent"), help="gross | grant_equivalent (351.507)"),
    "benchmark": FieldSpec("choice", ("lpr_1y", "lpr_5y"), help="PBOC benchmark, then LPR from 2019-08-20"),
    "spread_bp": FieldSpec("float", min_value=-1000, max_value=10000, help="basis points added to the benchmark"),
    "aul_years": FieldSpec("int", min_value=1, max_value=50, help="average useful life for allocated benefits"),
    "expense_threshold": FieldSpec("float", min_value=0, max_value=1, help="0.5 % of sales expense test"),
    "state_investor_types": FieldSpec("strings", help="investor types counted as state-linked"),
    "unequityworthy": FieldSpec("firms", help="firms treated as unequityworthy under grant_equivalent "
                                              "(None: all)"),
    "first_year_debt": FieldSpec("choice", ("closing", "exclude"), help="a firm's first year has no opening debt"),
    "tax_basis": FieldSpec("choice", ("auto", "preferential", "effective"),
                           help="auto (preferential where status or disclosures exist, else effective) | "
                                "preferential | effective (approximation)"),
    "tax_timing": FieldSpec("choice", ("accrual", "cvd"),
                            help="accrual (year of the profit) | cvd (year the return is filed, 351.509(b)(1))"),
    "land_benchmark": FieldSpec("choice", ("user", "median_comparables"),
                                help="user (land_benchmarks table) | median_comparables (not a CVD benchmark)"),
    "land_allocation": FieldSpec("choice", ("term", "aul", "purchase_year"),
                                 help="term of the use right | AUL | year of purchase"),
}


@dataclass(frozen=True)
class MeasureOptions:
    """Every measurement choice, validated when the object is made.

    Parameters
    ----------
    components : tuple of str
        Components that enter ``total`` and ``share`` (default the study's three:
        subsidy, equity, debt, so the published headline is unchanged). All five
        components are measured and returned; ``total_extended`` and
        ``share_extended`` always add all five.
    subsidy_basis : {"received", "cvd", "straight_line"}
        See :func:`finsupport.measure.subsidies.subsidy_flows`.
    equity_basis : {"gross", "grant_equivalent"}
        See :func:`finsupport.measure.equity.equity_flows`.
    benchmark : {"lpr_1y", "lpr_5y"}
        Benchmark lending rate of the debt component.
    spread_bp : float
        Basis points added to the national benchmark.
    aul_years : int
        Average useful life (AUL) for allocated non-recurring benefits (grants,
        grant-equivalent equity, land when ``land_allocation="aul"``).
    expense_threshold : float
        The 0.5 % test of 19 CFR 351.524(b)(2), as a fraction of sales.
    state_investor_types : tuple of str
        Investor types counted as state-linked equity.
    unequityworthy : tuple of firm codes or None
        Firms treated as unequityworthy under ``grant_equivalent`` (None: all).
    first_year_debt : {"closing", "exclude"}
        A firm's first year has no opening debt.
    tax_basis : {"auto", "preferential", "effective"}
        Tax concessions: ``preferential`` (preferential rates and the R&D additional
        deduction), ``effective`` (25 % of pre-tax profit less income tax expense, an
        approximation) or ``auto`` (preferential when the financials carry a
        preferential status or a disclosed deduction, else effective).
    tax_timing : {"accrual", "cvd"}
        Year the tax benefit counts: the year of the profit, or the year the return is
        filed (the next year; 19 CFR 351.509(b)(1)).
    land_benchmark : {"user", "median_comparables"}
        Benchmark price per m²: the ``land_benchmarks`` table, or the median price of
        comparable transactions in the data (not a CVD benchmark).
    land_allocation : {"term", "aul", "purchase_year"}
        Period over which a land benefit that passes the 0.5 % test is allocated.
    """

    components: tuple[str, ...] = STUDY_COMPONENTS
    subsidy_basis: str = "received"
    equity_basis: str = "gross"
    benchmark: str = "lpr_1y"
    spread_bp: float = 0.0
    aul_years: int = 10
    expense_threshold: float = 0.005
    state_investor_types: tuple[str, ...] = STATE_INVESTOR_TYPES
    unequityworthy: tuple[str, ...] | None = None
    first_year_debt: str = "closing"
    tax_basis: str = "auto"
    tax_timing: str = "accrual"
    land_benchmark: str = "user"
    land_allocation: str = "term"

    def __post_init__(self) -> None:
        for f in fields(self):
            v = FIELDS[f.name].check(f.name, getattr(self, f.name))
            if f.name == "unequityworthy" and v is not None:
                v = tuple(str(x) for x in v)
            object.__setattr__(self, f.name, v)

    # -- construction --------------------------------------------------------------
    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None = None, *, prefix: str = "measure") -> MeasureOptions:
        """Options from a mapping (a run config's ``[measure]`` section); unknown keys are errors.

        Error messages name the key with ``prefix`` (``measure.tax_basis``).
        """
        values = dict(values or {})
        unknown = sorted(set(values) - set(FIELDS))
        if unknown:
            raise ConfigError(f"unknown key(s) {', '.join(f'{prefix}.{k}' for k in unknown)}; "
                              f"known keys of [{prefix}]: {', '.join(FIELDS)}")
        checked = {k: FIELDS[k].check(f"{prefix}.{k}", v) for k, v in values.items()}
        return cls(**checked)

    @classmethod
    def coerce(cls, options: MeasureOptions | Mapping[str, Any] | None = None, **overrides: Any) -> MeasureOptions:
        """``options`` (an instance, a mapping or None) with keyword ``overrides`` applied."""
        if isinstance(options, MeasureOptions):
            base = options.to_dict()
        else:
            base = dict(options or {})
        base.update({k: v for k, v in overrides.items()})
        return cls.from_mapping(base, prefix="options")

    def replace(self, **changes: Any) -> MeasureOptions:
        """A copy with some options changed (validated)."""
        return MeasureOptions.coerce(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain values (lists for tuples), as a run config or a manifest writes them."""
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    # -- description ---------------------------------------------------------------
    def describe(self) -> dict[str, str]:
        """Plain-words rule of each component and of the share, for reports and manifests."""
        sb, eb = self.subsidy_basis, self.equity_basis
        subsidy = {
            "received": "grants counted in full in the year received (gross view of the published study)",
            "cvd": (f"19 CFR 351.524: recurring grants expensed; non-recurring grants allocated over an AUL of "
                    f"{self.aul_years} years by the declining-balance formula of 351.524(d)(1), discounted at the "
                    f"year's five-year-plus benchmark; grants below {self.expense_threshold:.1%} of sales expensed "
                    "(351.524(b)(2))"),
            "straight_line": (f"recurring grants expensed; non-recurring grants spread equally over "
                              f"{self.aul_years} years (EU practice)"),
        }[sb]
        types = ", ".join(self.state_investor_types)
        equity = {
            "gross": f"gross contributions by state-linked investors ({types}) in the year of the round",
            "grant_equivalent": ("19 CFR 351.507(a)(6): infusions into unequityworthy firms treated as non-recurring "
                                 f"grants allocated over {self.aul_years} years"),
        }[eb]
        bench = {"lpr_1y": "one-year PBOC benchmark lending rate, one-year LPR from 2019-08-20",
                 "lpr_5y": "over-five-year PBOC benchmark lending rate, five-year-plus LPR from 2019-08-20"
                 }[self.benchmark]
        spread = f" plus {self.spread_bp:g} bp" if self.spread_bp else ""
        debt = (f"max(0, benchmark − effective rate) × average interest-bearing debt; benchmark = day-weighted "
                f"annual average of the {bench}{spread}; effective rate = interest expense / average of opening and "
                f"closing interest-bearing debt; first year: {self.first_year_debt} (WTO SCM Art. 14(b))")
        tax_pref = ("preferential: (25 % − applicable rate) × taxable profit, applicable rate 15 % for high- and "
                    "new-technology enterprises (EIT Law Art. 28) and the small low-profit brackets of the year, "
                    "plus the R&D additional deduction (disclosed, else the deduction rate of the year × R&D "
                    "expense) × applicable rate; taxable profit = profit before tax (利润总额), loss years give no "
                    "concession")
        tax_eff = ("effective (an approximation): max(0, 25 % × profit before tax − income tax expense); deferred "
                   "taxes, exempt income and loss carry-forwards move it either way")
        tax = {"preferential": tax_pref, "effective": tax_eff,
               "auto": f"{tax_pref}; where the financials carry no preferential status nor disclosed deduction, "
                       f"{tax_eff}"}[self.tax_basis]
        tax += {"accrual": "; counted in the year of the profit",
                "cvd": "; counted in the year the return is filed, the next year (19 CFR 351.509(b)(1))"
                }[self.tax_timing]
        bench_land = {"user": "the benchmark price per m² supplied by place and year (land_benchmarks table)",
                      "median_comparables": ("the median price per m² of comparable transactions (same place, year "
                                             "and use) in the data — NOT a CVD benchmark: the transactions may "
                                             "themselves be below market")}[self.land_benchmark]
        alloc = {"term": "allocated over the term of the use right",
                 "aul": f"allocated over an AUL of {self.aul_years} years",
                 "purchase_year": "counted in full in the year of purchase"}[self.land_allocation]
        land = (f"max(0, benchmark − price paid per m²) × area, benchmark = {bench_land}; a non-recurring benefit: "
                f"below {self.expense_threshold:.1%} of the year's sales expensed (351.524(b)(2)), otherwise {alloc} "
                "by the declining-balance formula of 351.524(d)(1)")
        parts = " + ".join(self.components)
        return {"subsidy": subsidy, "equity": equity, "debt": debt, "tax": tax, "land": land,
                "share": f"total support ({parts}) / operating revenue",
                "extended share": "extended total (subsidy + equity + debt + tax + land) / operating revenue"}

    def rows(self) -> list[tuple[str, str]]:
        """The rules in force as (label, value) rows, for a report's About sheet."""
        d = self.describe()
        out = [("Components in total", ", ".join(COMPONENT_LABELS[c] for c in self.components))]
        out += [(COMPONENT_LABELS[c], d[c]) for c in ALL_COMPONENTS]
        out += [("Share of revenue", d["share"]), ("Extended share of revenue", d["extended share"])]
        return out
