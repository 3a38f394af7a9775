"""The data contract: which tables exist, their keys, columns and types.

One row per key; amounts are in yuan after reading. A column's *kind* decides how it
is parsed: ``id`` (string, leading zeros kept), ``year`` (integer calendar year),
``amount`` (yuan; unit conversion applies), ``number`` (float, no unit), ``count``
(non-negative number), ``bool``, ``text``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ColumnSpec", "TableSpec", "TABLES", "TABLE_NAMES", "STATE_INVESTOR_TYPES", "TIERS"]


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    kind: str  # id | year | amount | number | count | bool | text
    doc: str = ""


@dataclass(frozen=True)
class TableSpec:
    name: str
    key: tuple[str, ...]  # empty: one row per event, no unique key
    columns: tuple[ColumnSpec, ...]
    doc: str = ""
    nonnegative: tuple[str, ...] = field(default=())

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def kind(self, column: str) -> str | None:
        for c in self.columns:
            if c.name == column:
                return c.kind
        return None

    def columns_of_kind(self, *kinds: str) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.kind in kinds)


def _c(name: str, kind: str, doc: str = "") -> ColumnSpec:
    return ColumnSpec(name, kind, doc)


TABLES: dict[str, TableSpec] = {
    "firms": TableSpec(
        "firms",
        ("firm_id",),
        (
            _c("firm_id", "id", "firm code, kept as text"),
            _c("name", "text"),
            _c("sector", "text"),
            _c("province", "text"),
            _c("parent_id", "id", "ultimate parent if a subsidiary of a larger group, else empty"),
            _c("parent_share", "number", "parent's ownership share in % (100 = fully owned); optional"),
            _c("listed_exchange", "text"),
        ),
        "one row per firm",
    ),
    "financials": TableSpec(
        "financials",
        ("firm_id", "year"),
        (
            _c("firm_id", "id"),
            _c("year", "year", "fiscal year"),
            _c("revenue", "amount", "operating revenue"),
            _c("total_assets", "amount"),
            _c("total_liabilities", "amount"),
            _c("interest_bearing_debt", "amount", "short + long borrowings + bonds, year end"),
            _c("interest_expense", "amount"),
            _c("rd_expense", "amount"),
            _c("employees", "count"),
            _c("main_business_revenue", "amount"),
            _c("invention_patents", "count", "invention patents held"),
            _c("net_profit", "amount"),
            _c("benchmark_rate", "number", "optional firm-specific benchmark rate, % a year"),
            _c("profit_before_tax", "amount", "利润总额, optional (tax concessions)"),
            _c("income_tax_expense", "amount", "所得税费用, optional (tax concessions, effective basis)"),
            _c("rd_additional_deduction", "amount", "研发费用加计扣除 as disclosed, optional"),
            _c("hnte", "bool", "high- and new-technology enterprise in force that year, optional"),
            _c("small_low_profit", "bool", "small low-profit enterprise that year, optional (else inferred)"),
            _c("tech_sme", "bool", "technology-based SME (科技型中小企业) that year, optional"),
            _c("manufacturer", "bool", "manufacturing firm (R&D deduction schedule), optional"),
        ),
        "one row per firm and fiscal year",
        nonnegative=(
            "total_assets",
            "total_liabilities",
            "interest_bearing_debt",
            "rd_expense",
            "employees",
            "main_business_revenue",
            "invention_patents",
        ),
    ),
    "grants": TableSpec(
        "grants",
        (),
        (
            _c("firm_id", "id"),
            _c("year", "year", "year received"),
            _c("amount", "amount"),
            _c("recurring", "bool", "recurring (expensed) rather than one-off"),
            _c("asset_related", "bool", "tied to the purchase of fixed assets"),
            _c("level", "text", "central / provincial / municipal"),
            _c("programme", "text"),
        ),
        "one row per grant",
    ),
    "equity": TableSpec(
        "equity",
        (),
        (
            _c("firm_id", "id"),
            _c("year", "year"),
            _c("investor", "text"),
            _c("investor_type", "text", "guidance_fund, state_vc, soe, government, private, …"),
            _c("amount", "amount"),
        ),
        "one row per investor in a round",
        nonnegative=("amount",),
    ),
    "designations": TableSpec(
        "designations",
        (),
        (
            _c("firm_id", "id"),
            _c("tier", "text", "innovative_sme, specialized_sme, little_giant, manufacturing_champion"),
            _c("year", "year", "year of the award"),
            _c("batch", "number"),
            _c("valid_until", "year", "last year in force; default year + 2"),
            _c("revoked_year", "year", "first year no longer in force after a revocation"),
        ),
        "one row per award",
    ),
    "land": TableSpec(
        "land",
        (),
        (
            _c("firm_id", "id"),
            _c("year", "year", "year the land-use right was bought"),
            _c("area_m2", "number", "area in square metres"),
            _c("price_paid", "amount", "total price paid for the use right"),
            _c("place", "text", "city or province (matched with land_benchmarks)"),
            _c("land_use", "text", "industrial, commercial, …"),
            _c("term_years", "number", "term of the use right in years (50 for industrial land)"),
        ),
        "one row per purchase of a land-use right (optional)",
        nonnegative=("area_m2", "price_paid", "term_years"),
    ),
    "land_benchmarks": TableSpec(
        "land_benchmarks",
        (),
        (
            _c("place", "text"),
            _c("year", "year"),
            _c("land_use", "text", "optional: a benchmark for one land use"),
            _c("price_per_m2", "number", "benchmark price, yuan per m²"),
            _c("source", "text", "where the benchmark comes from"),
        ),
        "benchmark land prices by place and year (optional, user-supplied)",
        nonnegative=("price_per_m2",),
    ),
}

TABLE_NAMES: tuple[str, ...] = tuple(TABLES)

#: Investor types counted as state-linked equity by default.
STATE_INVESTOR_TYPES: tuple[str, ...] = ("guidance_fund", "state_vc", "soe", "government")

#: Certification tiers, lowest to highest.
TIERS: tuple[str, ...] = (
    "innovative_sme",
    "specialized_sme",
    "little_giant",
    "manufacturing_champion",
)
