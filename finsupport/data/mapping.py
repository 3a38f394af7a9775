"""Header presets and unit handling: from source headers to the data contract.

A source header is matched to a contract column in this order (first hit wins):

1. the user's ``mapping`` (``{"financials": {"营业收入": "revenue"}}`` or a flat
   ``{"营业收入": "revenue"}`` that applies to every table having that column);
2. the ``preset`` (``"csmar"`` or ``"wind"``, see :data:`PRESETS`);
3. the contract names themselves and the built-in English and Chinese synonyms
   (:data:`SYNONYMS`, :data:`TABLE_SYNONYMS`);
4. for exports with several header rows, the same rules applied to the label rows
   under the first header row (CSMAR's second row holds the Chinese field name).

Matching ignores case, surrounding space, full-width forms and the separators
``space _ - .``, and a unit written in the header is parsed off first:
``"营业收入(万元)"``, ``"revenue (10,000 yuan)"``, ``"营业收入\\n[单位]万元"`` all match
``revenue`` with the unit 万元.

Units (:func:`parse_unit`): yuan / 元 (1), thousand / 千元 (10³), wan / 万元 / 10k (10⁴),
million / 百万元 (10⁶), yi / 亿元 / 100m (10⁸). Amount columns are converted to yuan.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..errors import ConfigError
from .spec import TABLE_NAMES, TABLES

__all__ = [
    "PRESETS",
    "Preset",
    "SYNONYMS",
    "TABLE_SYNONYMS",
    "TABLE_ALIASES",
    "HELPER_COLUMNS",
    "DERIVED_COLUMNS",
    "UNITS",
    "header_key",
    "split_header",
    "parse_unit",
    "table_for_name",
    "normalise_mapping",
    "normalise_units",
    "resolve_header",
    "column_kind",
]


def nfkc(s: str) -> str:
    """Unicode NFKC: full-width letters, digits and punctuation become their ASCII forms."""
    return unicodedata.normalize("NFKC", s)


def header_key(s: object) -> str:
    """The form headers are compared in: NFKC, lower case, separators collapsed to ``_``."""
    t = nfkc(str(s)).strip().lower()
    t = re.sub(r"[\s_\-.]+", "_", t)
    return t.strip("_")


# -- units ----------------------------------------------------------------------
#: canonical unit name -> (factor to yuan, accepted spellings after normalisation)
UNITS: dict[str, tuple[int, tuple[str, ...]]] = {
    "yuan": (1, ("yuan", "元", "rmb", "cny", "rmbyuan")),
    "thousand": (1_000, ("thousand", "thousandyuan", "千元", "千", "k", "kyuan", "1000", "1000yuan")),
    "wan": (10_000, ("wan", "wanyuan", "万元", "万", "10k", "10000", "10000yuan", "tenthousand",
                     "tenthousandyuan")),
    "million": (1_000_000, ("million", "millionyuan", "百万元", "百万", "mn", "mio", "1000000",
                            "1000000yuan")),
    "ten_million": (10_000_000, ("tenmillion", "tenmillionyuan", "千万元", "千万", "10000000", "10000000yuan")),
    "yi": (100_000_000, ("yi", "yiyuan", "亿元", "亿", "100m", "100million", "100millionyuan",
                         "hundredmillion", "hundredmillionyuan", "100000000", "100000000yuan")),
}
_UNIT_LOOKUP = {alias: name for name, (_, aliases) in UNITS.items() for alias in aliases}
_FOREIGN = re.compile(r"美元|港元|港币|欧元|日元|英镑|usd|us\$|hkd|eur|jpy|gbp")


def _unit_token(text: str) -> str:
    t = nfkc(str(text)).strip().lower()
    t = re.sub(r"^单位\s*[:：]?", "", t)
    t = re.sub(r"^(?:unit|in)\s*[:：]?\s*", "", t)
    return re.sub(r"[\s,，'’_]", "", t).replace("人民币", "")


def _lookup_unit(text: str) -> str | None:
    t = _unit_token(text)
    for cand in (t, t.removeprefix("rmb").removeprefix("cny"), t.removesuffix("yuan"), t.removesuffix("元")):
        if cand == "" and t:
            return "yuan"
        if cand in _UNIT_LOOKUP:
            return _UNIT_LOOKUP[cand]
    return None


def parse_unit(text: object, *, strict: bool = True) -> tuple[str, int] | None:
    """``(canonical name, factor to yuan)`` for a unit spelling such as ``"万元"`` or ``"wan"``.

    With ``strict`` an unknown spelling is a :class:`ConfigError`; otherwise ``None``.
    """
    if text is None or str(text).strip() == "":
        if strict:
            raise ConfigError(f"empty unit; use one of {_unit_help()}")
        return None
    name = _lookup_unit(str(text))
    if name is None:
        if strict:
            raise ConfigError(f"unknown unit {text!r}; use one of {_unit_help()}")
        return None
    return name, UNITS[name][0]


def is_foreign_currency(text: object) -> bool:
    return bool(_FOREIGN.search(nfkc(str(text)).lower()))


def _unit_help() -> str:
    return "yuan/元, thousand/千元, wan/万元/10k, million/百万元, yi/亿元/100m"


@dataclass(frozen=True)
class HeaderParts:
    raw: str
    base: str  # the name without unit brackets and Wind tags
    unit_text: str | None  # text found in unit position (may not be a currency unit)
    unit_explicit: bool = False  # the unit was introduced as one ([单位], 单位:, a unit row): it must parse
    tags: dict = field(default_factory=dict)  # Wind tags: {"报告期": "2019年报", "币种": "人民币", …}

    @property
    def period(self) -> str | None:
        """The report period a Wind header names (``[报告期]2019年报``, ``[年度]2019``), if any."""
        for k in PERIOD_TAGS:
            if self.tags.get(k):
                return self.tags[k]
        return None


_BRACKET = re.compile(r"^(?P<base>.*?)\s*[(\[（【]\s*(?P<inner>[^()\[\]（）【】]*?)\s*[)\]）】]\s*$", re.S)
_UNIT_LINE = re.compile(r"^\s*单位\s*[:：]\s*(?P<u>.+?)\s*$")
_UNIT_SUFFIX = re.compile(r"^(?P<base>.*?)\s*[,，;；/]\s*(?:单位\s*[:：]?\s*)?(?P<u>[^,，;；/]+)$")
#: Tags Wind writes into its headers, one line each or all on one line:
#: ``营业收入\n[报告期]2019年报\n[单位]万元`` or ``营业收入[报告期]2019年报[单位]亿元``.
WIND_TAGS = ("单位", "报告期", "年度", "截止日期", "交易日期", "日期", "币种", "报表类型", "报告类型", "类型",
             "指标", "口径", "周期", "单位类型")
PERIOD_TAGS = ("报告期", "年度", "截止日期")
_TAG = re.compile(r"[\[【]\s*(?P<tag>" + "|".join(sorted(WIND_TAGS, key=len, reverse=True))
                  + r")\s*[\]】]\s*[:：]?\s*(?P<val>[^\[【\r\n]*)")
#: bracketed units of counts, stripped from the name (员工总数(人), 发明专利数(件))
COUNT_UNITS = frozenset({"人", "个", "件", "项", "家", "户", "名", "位", "次", "people", "persons", "number"})
#: a money unit glued to the name, as Stata writes survey headers (主营业务收入千元, 补贴收入千元)
_GLUED_UNIT = re.compile(r"^(?P<base>\S{2,}?)(?P<u>千万元|百万元|千元|万元|亿元)$")
#: a bracketed note that names a money unit (元, 万, 亿, yuan …) even if we cannot parse it
_MONEYISH = re.compile(r"元|万|亿|千|百|yuan|rmb|cny|usd|dollar|wan|thousand|million|\bmn\b|\bbn\b", re.I)


def split_header(raw: object) -> HeaderParts:
    """Split a source header into its name, the unit written in it and Wind's tags.

    ``"营业收入(万元)"`` → (``营业收入``, ``万元``); Wind's ``"营业收入\\n[报告期]2019年报\\n[单位]万元"``
    and ``"营业收入[报告期]2019年报[单位]亿元"`` → (``营业收入``, ``万元``/``亿元``, period
    ``2019年报``); ``"revenue, 10k yuan"`` → (``revenue``, ``10k yuan``). A unit introduced
    by ``[单位]`` or ``单位:`` is *explicit*: a reader must reject it if it cannot parse it.
    """
    text = "" if raw is None else str(raw)
    norm = nfkc(text)
    tags: dict[str, str] = {}
    first = _TAG.search(norm)
    if first is not None:
        for m in _TAG.finditer(norm):
            tags.setdefault(m.group("tag"), m.group("val").strip())
        head, rest = norm[: first.start()], norm[first.start():]
        # lines of the rest that carry no tag (a bare "单位：万元" line)
        extra_lines = [ln for ln in re.split(r"[\r\n]+", _TAG.sub("", rest)) if ln.strip()]
    else:
        head, extra_lines = norm, []
    lines = [ln.strip() for ln in re.split(r"[\r\n]+", head) if ln.strip()]
    extra_lines = lines[1:] + extra_lines
    if not lines:
        return HeaderParts(text, "", tags.get("单位") or None, "单位" in tags, tags)
    name, unit, explicit = lines[0], None, False
    if tags.get("单位"):
        unit, explicit = tags["单位"], True
    elif "单位" in tags:
        unit, explicit = "", True  # "[单位]" with nothing after it
    for ln in extra_lines:
        m = _UNIT_LINE.match(ln)
        if m and unit is None:
            unit, explicit = m.group("u"), True
    m = _BRACKET.match(name)
    if m and m.group("base").strip():
        inner = m.group("inner").strip()
        um = re.match(r"^单位\s*[:：]\s*(?P<u>.*)$", inner)
        if um:
            name = m.group("base")
            if unit is None:
                unit, explicit = um.group("u"), True
        elif parse_unit(inner, strict=False) or _MONEYISH.search(inner):
            name = m.group("base")
            unit = inner if unit is None else unit
        elif inner in COUNT_UNITS:
            name = m.group("base")
        # any other bracket qualifies the indicator (营业收入(同比增长率), 资产负债率(%)): it stays in the
        # name, so the column is not taken for the plain indicator
    elif unit is None:
        m = _UNIT_SUFFIX.match(name)
        if m and m.group("base").strip() and parse_unit(m.group("u"), strict=False):
            name, unit = m.group("base"), m.group("u")
        else:  # Stata drops the brackets: 主营业务收入千元
            m = _GLUED_UNIT.match(name)
            if m:
                name, unit = m.group("base"), m.group("u")
    return HeaderParts(text, name.strip(), unit.strip() if unit is not None else None, explicit, tags)


def is_parent_statement(parts: HeaderParts) -> bool:
    """A Wind header of the parent company's own statement (``[报表类型]母公司报表``), not the group's."""
    kind = parts.tags.get("报表类型") or parts.tags.get("报告类型") or ""
    return "母公司" in kind


def unit_is_required(parts_unit: str | None, explicit: bool) -> bool:
    """Whether a unit text must parse: introduced as a unit, or a bracket that names money (``(千万元)``)."""
    if parts_unit is None:
        return False
    return explicit or bool(_MONEYISH.search(parts_unit))


# -- synonyms -------------------------------------------------------------------
#: Built-in header synonyms, by contract column (apply to every table having the column).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "firm_id": ("firm", "firm_code", "firmid", "firm id", "company_id", "company_code", "stock_code",
                "stkcd", "code", "ticker", "证券代码", "股票代码", "企业代码", "公司代码", "代码"),
    "year": ("fiscal_year", "fyear", "fy", "yr", "会计年度", "年度", "年份", "年", "统计年度", "会计期间",
             "截止日期", "统计截止日期", "报告期"),
    "name": ("firm_name", "company_name", "company", "公司名称", "企业名称", "证券简称", "股票简称",
             "公司简称", "名称"),
    "sector": ("industry", "industry_code", "行业", "所属行业", "行业名称", "行业代码"),
    "province": ("region", "省份", "所属省份", "省", "地区"),
    "parent_id": ("parent", "parent_code", "group_id", "母公司代码", "集团代码", "上级公司代码"),
    "parent_share": ("parent_ownership", "母公司持股比例"),
    "listed_exchange": ("exchange", "交易所", "上市交易所", "上市地点"),
    "revenue": ("operating_revenue", "sales", "营业收入"),
    "total_assets": ("assets", "资产总计", "资产总额", "总资产", "资产合计"),
    "total_liabilities": ("liabilities", "total_debt_liabilities", "负债合计", "负债总额", "总负债"),
    "interest_bearing_debt": ("interest_bearing_liabilities", "有息负债", "有息债务"),
    "interest_bearing_debt_vendor": ("带息债务",),  # Wind's aggregate, defined differently (docs/data.md)
    "interest_expense": ("interest", "利息支出", "利息费用", "财务费用:利息费用", "财务费用-利息费用",
                         "其中:利息费用", "利息费用(财务费用)", "财务费用中的利息费用"),
    "rd_expense": ("rd", "r&d", "r&d_expense", "r&d_expenses", "rd_expenses", "research_and_development",
                   "研发投入", "研发费用", "研发支出", "研发投入金额"),
    "employees": ("employee", "staff", "headcount", "number_of_employees", "员工人数", "职工人数",
                  "员工总数", "从业人数", "从业人员"),
    "main_business_revenue": ("main_revenue", "core_business_revenue", "主营业务收入"),
    "invention_patents": ("invention_patent", "发明专利数", "发明专利数量", "发明专利"),
    "net_profit": ("net_income", "净利润"),
    "benchmark_rate": ("基准利率",),
    "profit_before_tax": ("total_profit", "pretax_profit", "pre_tax_profit", "profit_before_taxes",
                          "earnings_before_tax", "利润总额"),
    "income_tax_expense": ("income_tax", "income_taxes", "tax_expense", "所得税费用", "所得税", "减:所得税费用",
                           "减:所得税"),
    "rd_additional_deduction": ("rd_super_deduction", "研发费用加计扣除", "研发费用加计扣除额", "加计扣除"),
    "hnte": ("high_tech_enterprise", "high_and_new_technology_enterprise", "高新技术企业", "是否高新技术企业"),
    "small_low_profit": ("small_low_profit_enterprise", "小型微利企业", "是否小型微利企业"),
    "tech_sme": ("technology_based_sme", "科技型中小企业", "是否科技型中小企业"),
    "manufacturer": ("manufacturing", "制造业企业", "是否制造业企业"),
    "area_m2": ("area", "land_area", "土地面积", "面积", "宗地面积"),
    "price_paid": ("land_price", "transaction_price", "成交价款", "出让价款", "土地出让金", "成交价格"),
    "place": ("location", "city", "所在地", "城市", "地区名称", "行政区"),
    "land_use": ("use", "土地用途", "用途"),
    "term_years": ("term", "use_term", "使用年限", "出让年限"),
    "price_per_m2": ("benchmark_price", "price_per_sqm", "基准地价", "单价", "元/平方米"),
    "recurring": ("是否经常性", "经常性"),
    "asset_related": ("与资产相关", "是否与资产相关"),
    "level": ("补助级别", "级别", "层级"),
    "programme": ("program", "项目", "项目名称", "补助项目"),
    "investor": ("investor_name", "投资方", "投资者", "投资机构", "股东名称"),
    "investor_type": ("投资方类型", "投资者类型", "投资机构类型", "股东性质"),
    "tier": ("designation", "称号", "认定类型", "认定称号", "资质"),
    "batch": ("批次",),
    "valid_until": ("有效期至", "有效期截止年份", "有效期截止"),
    "revoked_year": ("revoked", "撤销年份", "撤销年度"),
    "short_term_borrowings": ("短期借款",),
    "current_portion_noncurrent": ("一年内到期的非流动负债", "current_portion_of_non_current_liabilities"),
    "long_term_borrowings": ("长期借款",),
    "bonds_payable": ("应付债券",),
}

#: Synonyms that only make sense in one table.
TABLE_SYNONYMS: dict[str, dict[str, tuple[str, ...]]] = {
    "grants": {"amount": ("grant", "grant_amount", "subsidy", "政府补助金额", "补助金额", "政府补助", "金额",
                          "本期金额"),
               "year": ("补助年度", "获得年份")},
    "equity": {"amount": ("investment", "investment_amount", "投资金额", "出资额", "认缴出资额", "金额")},
    "designations": {"year": ("认定年份", "认定年度", "获评年份")},
}

#: Source-only columns a table may carry to derive a contract column (kind ``amount``).
HELPER_COLUMNS: dict[str, dict[str, str]] = {
    "financials": {"short_term_borrowings": "amount", "current_portion_noncurrent": "amount",
                   "long_term_borrowings": "amount", "bonds_payable": "amount",
                   "interest_bearing_debt_vendor": "amount", "rd_expense_note": "amount", "rd_spending": "amount"},
    "grants": {"amount_prior_period": "amount"},
}

#: Contract columns derived from helper columns when the source lacks them (sum, logged).
DERIVED_COLUMNS: dict[str, dict[str, tuple[str, ...]]] = {
    "financials": {"interest_bearing_debt": ("short_term_borrowings", "current_portion_noncurrent",
                                             "long_term_borrowings", "bonds_payable")},
}

#: Sheet or file names accepted for each table (compared with :func:`header_key`).
TABLE_ALIASES: dict[str, tuple[str, ...]] = {
    "firms": ("firms", "firm", "企业", "企业信息", "公司", "公司信息"),
    "financials": ("financials", "financial", "财务", "财务数据"),
    "grants": ("grants", "grant", "subsidies", "补助", "政府补助"),
    "equity": ("equity", "股权", "股权投资"),
    "designations": ("designations", "designation", "认定", "认定名单"),
    "land": ("land", "land_use_rights", "土地", "土地使用权", "土地出让"),
    "land_benchmarks": ("land_benchmarks", "land_benchmark", "土地基准价", "基准地价"),
}
_TABLE_LOOKUP = {header_key(a): t for t, aliases in TABLE_ALIASES.items() for a in aliases}


def table_for_name(name: str, preset: str | None = None) -> str | None:
    """The table a sheet or file stem names (``"Financials"``, ``"财务"``, CSMAR's ``"FS_Combas"``), or None."""
    t = _TABLE_LOOKUP.get(header_key(name))
    if t is None and preset is not None:
        stem = header_key(name)
        for code, table in PRESETS[preset].files.items():
            if stem.startswith(header_key(code)):
                return table
    return t


# -- presets --------------------------------------------------------------------
@dataclass(frozen=True)
class Preset:
    """A named set of source headers (any table that has the target column) plus reading rules."""

    name: str
    headers: dict[str, str]
    doc: str = ""
    code_width: int | None = None  # firm codes are zero-padded to this width, whatever the file type
    rules: tuple[str, ...] = field(default=())
    default_unit: str | None = None  # unit of amounts whose header and units= say nothing
    #: file-name stems (case-insensitive prefixes) -> the table a file feeds; several files may feed one table
    files: dict[str, str] = field(default_factory=dict)
    #: one source file feeds several tables (the industrial survey: financials, grants and firms in one file)
    splits: tuple[str, ...] = field(default=())


PRESETS: dict[str, Preset] = {
    "csmar": Preset(
        "csmar",
        {
            # identifiers and dates (all CSMAR tables; newer tables use Symbol / EndDate)
            "Stkcd": "firm_id", "Symbol": "firm_id", "Accper": "year", "Reptdt": "year", "EndDate": "year",
            "Stknme": "name", "ShortName": "name", "Conme": "name",
            "Nnindcd": "sector", "IndustryCode": "sector",
            "PROVINCE": "province", "Prvcnm": "province",
            # FS_Combas (balance sheet)
            "A001000000": "total_assets", "A002000000": "total_liabilities",
            "A002101000": "short_term_borrowings", "A002125000": "current_portion_noncurrent",
            "A002201000": "long_term_borrowings", "A002203000": "bonds_payable",
            # FS_Comins (income statement)
            "B001101000": "revenue", "B001216000": "rd_expense", "B001211101": "interest_expense",
            "B002000000": "net_profit", "B001000000": "profit_before_tax", "B002100000": "income_tax_expense",
            # PT_LCRDSPENDING (R&D spending, also before the 2018 statement format)
            "RDExpenses": "rd_expense_note", "RDSpendSum": "rd_spending",
            # CG_Ybasic (governance basics)
            "Y0601b": "employees",
            # FN_Fn056 (government subsidies, one row per item)
            "Fn05601": "programme", "Fn05602": "amount", "Fn05603": "amount_prior_period",
        },
        doc="CSMAR (国泰安) downloads: one file per CSMAR table under CSMAR's own name (FS_Combas, FS_Comins, "
            "CG_Ybasic, PT_LCRDSPENDING, FN_Fn056, TRD_Co), one header row of field codes, plus two rows "
            "(Chinese name, unit) in Excel downloads; Stkcd is the six-digit code; Accper the report date; "
            "Typrep A/1 = consolidated, B/2 = parent-company statement.",
        code_width=6,
        rules=("typrep_consolidated", "csmar_subsidy_items", "csmar_missing_codes"),
        files={"FS_Combas": "financials", "FS_Comins": "financials", "CG_Ybasic": "financials",
               "PT_LCRDSPENDING": "financials", "FN_Fn056": "grants", "TRD_Co": "firms"},
    ),
    "wind": Preset(
        "wind",
        {
            "证券代码": "firm_id", "代码": "firm_id", "证券简称": "name", "名称": "name", "报告期": "year",
            "年度": "year", "会计年度": "year",
            "所属Wind行业": "sector", "所属Wind行业名称": "sector", "所属申万行业": "sector",
            "省份": "province", "所属省份": "province", "上市板": "listed_exchange", "交易所": "listed_exchange",
            "营业收入": "revenue", "资产总计": "total_assets", "负债合计": "total_liabilities",
            # Wind's 带息债务 is defined differently (it nets out non-interest-bearing liabilities): kept
            # aside and used only when the parts of the project's definition are absent (logged)
            "带息债务": "interest_bearing_debt_vendor",
            "利息费用": "interest_expense", "利息支出": "interest_expense",
            "研发费用": "rd_expense", "研发支出总额": "rd_spending", "员工总数": "employees",
            "主营业务收入": "main_business_revenue", "净利润": "net_profit",
            "利润总额": "profit_before_tax", "所得税": "income_tax_expense", "所得税费用": "income_tax_expense",
            "短期借款": "short_term_borrowings", "一年内到期的非流动负债": "current_portion_noncurrent",
            "长期借款": "long_term_borrowings", "应付债券": "bonds_payable",
            "政府补助": "amount", "计入当期损益的政府补助": "amount",
        },
        doc="Wind (万得) Excel/CSV exports: Chinese headers with the unit and report period in the header "
            "(营业收入(万元), 营业收入\\n[报告期]2019年报\\n[单位]万元 or 营业收入[报告期]2019年报[单位]亿元); "
            "wide panels (one column per report period) are reshaped; codes such as 000001.SZ lose their "
            "exchange suffix; a trailing 数据来源：Wind line is skipped.",
        code_width=6,
        rules=("strip_exchange_suffix",),
    ),
    "industrial_survey": Preset(
        "industrial_survey",
        {
            "法人代码": "firm_id", "法人单位代码": "firm_id", "组织机构代码": "firm_id", "企业匹配唯一标识码": "firm_id",
            "frdm": "firm_id", "年份": "year", "年": "year", "year": "year",
            "企业名称": "name", "单位名称": "name", "qymc": "name",
            "行业代码": "sector", "国民经济行业代码": "sector", "行业类别": "sector", "cic": "sector",
            "省（自治区、直辖市）": "province", "省(自治区、直辖市)": "province", "省份": "province", "省": "province",
            "营业收入合计": "revenue", "营业收入": "revenue", "yysr": "revenue",
            "主营业务收入": "main_business_revenue", "主营业务(产品销售)收入": "main_business_revenue",
            "产品销售收入": "main_business_revenue", "zyywsr": "main_business_revenue",
            "资产总计": "total_assets", "zczj": "total_assets", "负债合计": "total_liabilities", "fzhj": "total_liabilities",
            "利息支出": "interest_expense", "其中：利息支出": "interest_expense", "其中:利息支出": "interest_expense",
            "lxzc": "interest_expense",
            "全部从业人员年平均人数": "employees", "从业人员年平均人数": "employees", "cyrs": "employees",
            "研究开发费": "rd_expense", "yjkff": "rd_expense",
            "补贴收入": "amount", "btsr": "amount",
            # the survey's tax field is income tax payable (current tax), not expense: fine for the effective basis
            "利润总额": "profit_before_tax", "应交所得税": "income_tax_expense",
        },
        doc="Annual survey of industrial firms (中国工业企业数据库, 1998–2013 in public releases): one file per "
            "year or one panel, Chinese or pinyin headers; amounts in thousand yuan (千元) in most releases "
            "(a unit in the header wins); 补贴收入 (subsidy income) becomes one grant row per firm-year. "
            "The survey has no interest-bearing debt: the debt component is not measured from it.",
        default_unit="thousand",
        splits=("financials", "grants", "firms"),
    ),
}
_PRESET_KEYS = {name: {header_key(k): v for k, v in p.headers.items()} for name, p in PRESETS.items()}


def _table_targets(table: str) -> set[str]:
    return set(TABLES[table].column_names) | set(HELPER_COLUMNS.get(table, {}))


_ALL_TARGETS = set().union(*(_table_targets(t) for t in TABLE_NAMES))


def column_kind(table: str, column: str) -> str | None:
    """The kind of a contract or helper column of ``table`` (None for an extra column)."""
    return TABLES[table].kind(column) or HELPER_COLUMNS.get(table, {}).get(column)


def _synonym_index(table: str) -> dict[str, str]:
    idx: dict[str, str] = {}
    targets = _table_targets(table)
    for col, aliases in SYNONYMS.items():
        if col in targets:
            for a in aliases:
                idx.setdefault(header_key(a), col)
    for col, aliases in TABLE_SYNONYMS.get(table, {}).items():
        for a in aliases:
            idx[header_key(a)] = col
    for col in targets:  # the contract names themselves win
        idx[header_key(col)] = col
    return idx


_SYNONYM_INDEX = {t: _synonym_index(t) for t in TABLE_NAMES}


# -- options ----------------------------------------------------------------------
def normalise_mapping(mapping: Mapping | None) -> dict[str | None, dict[str, str]]:
    """``{table or None (flat): {header_key(source): target}}``; a malformed mapping is a ConfigError."""
    out: dict[str | None, dict[str, str]] = {None: {}}
    if mapping is None:
        return out
    if not isinstance(mapping, Mapping):
        raise ConfigError("mapping must be a dict such as {'financials': {'营业收入': 'revenue'}} "
                          f"or {{'营业收入': 'revenue'}}, got {type(mapping).__name__}")
    for k, v in mapping.items():
        if isinstance(v, Mapping):
            table = str(k).strip().lower()
            if table not in TABLES:
                raise ConfigError(f"mapping names an unknown table {k!r}; tables are {', '.join(TABLE_NAMES)}")
            sub = out.setdefault(table, {})
            for src, tgt in v.items():
                sub[header_key(src)] = _target(src, tgt, table)
        else:
            out[None][header_key(k)] = _target(k, v, None)
    return out


def _target(src, tgt, table) -> str:
    if not isinstance(tgt, str) or not tgt.strip():
        raise ConfigError(f"mapping entry {src!r} must map to a column name (text), got {tgt!r}")
    tgt = tgt.strip()
    if table is not None and tgt in _ALL_TARGETS and tgt not in _table_targets(table):
        raise ConfigError(f"mapping for table '{table}' maps {src!r} to '{tgt}', which is not a column of "
                          f"'{table}'; its columns are {', '.join(TABLES[table].column_names)}")
    return tgt


UnitSpec = dict[str, dict[str | None, tuple[str, int, str, str]]]


def normalise_units(units) -> UnitSpec:
    """``{table: {column or None (whole table): (unit, factor, spelling, scope)}}``; errors are ConfigErrors.

    ``scope`` is ``"all"`` for one unit given for every monetary table (``units="wan"``),
    ``"table"`` or ``"column"`` otherwise. A unit written in a header wins over an
    ``"all"`` default; a per-table or per-column unit that contradicts a header is an error.
    """
    out: UnitSpec = {}
    if units is None or units == {}:
        return out
    if isinstance(units, str):
        name, f = parse_unit(units)
        return {t: {None: (name, f, units, "all")} for t in TABLE_NAMES if _amount_columns(t)}
    if not isinstance(units, Mapping):
        raise ConfigError("units must be a unit such as 'wan', or a dict such as {'financials': 'wan'} "
                          "or {'financials': {'revenue': 'yi'}}")
    for table, spec in units.items():
        t = str(table).strip().lower()
        if t not in TABLES:
            raise ConfigError(f"units names an unknown table {table!r}; tables are {', '.join(TABLE_NAMES)}")
        amount_cols = _amount_columns(t)
        if isinstance(spec, Mapping):
            for col, u in spec.items():
                if col not in amount_cols:
                    raise ConfigError(f"units for '{t}.{col}': only amount columns take a unit "
                                      f"({', '.join(sorted(amount_cols)) or 'none in this table'})")
                name, f = parse_unit(u)
                out.setdefault(t, {})[col] = (name, f, str(u), "column")
        else:
            if not amount_cols:
                raise ConfigError(f"units for '{t}': the table has no amount columns")
            name, f = parse_unit(spec)
            out.setdefault(t, {})[None] = (name, f, str(spec), "table")
    return out


def _amount_columns(table: str) -> set[str]:
    return set(TABLES[table].columns_of_kind("amount")) | {
        c for c, k in HELPER_COLUMNS.get(table, {}).items() if k == "amount"}


# -- resolution -------------------------------------------------------------------
@dataclass
class Resolved:
    """How one source header was matched."""

    source: str
    target: str | None  # None: an extra column (kept under its own name)
    how: str  # mapping | preset | contract | synonym | label | extra
    unit_texts: list[str] = field(default_factory=list)  # units written in the header (and label rows)
    required_units: list[str] = field(default_factory=list)  # of those, the ones that must parse
    currency: str | None = None  # Wind's [币种] tag


def resolve_header(raw: str, table: str, *, user: dict[str | None, dict[str, str]],
                   preset: str | None = None, labels: tuple[str, ...] = ()) -> Resolved:
    """Match one source header (and its label-row cells) to a column of ``table``."""
    parts = split_header(raw)
    keys = [header_key(raw)]
    if header_key(parts.base) not in keys:
        keys.append(header_key(parts.base))
    units = [parts.unit_text] if parts.unit_text else []
    required = [parts.unit_text] if unit_is_required(parts.unit_text, parts.unit_explicit) else []
    label_keys: list[str] = []
    for lab in labels:
        lp = split_header(lab)
        if lp.unit_text:
            units.append(lp.unit_text)
            if unit_is_required(lp.unit_text, lp.unit_explicit):
                required.append(lp.unit_text)
        elif lab and parse_unit(lab, strict=False):  # a label row that holds only the unit (CSMAR row 3)
            units.append(lab)
            continue
        for k in (header_key(lab), header_key(lp.base)):
            if k and k not in label_keys:
                label_keys.append(k)
    targets = _table_targets(table)
    table_user = user.get(table, {})
    flat = user.get(None, {})

    def result(target, how):
        return Resolved(raw, target, how, units, required, parts.tags.get("币种") or None)

    if is_parent_statement(parts):  # Wind's [报表类型]母公司报表: not the consolidated figure
        return Resolved(raw, None, "parent", units, required, None)

    def _flat_ok(t: str) -> bool:
        return t in targets or t not in _ALL_TARGETS

    for group, how in ((keys, ""), (label_keys, "label")):
        for k in group:
            if k in table_user:
                return result(table_user[k], "mapping")
            if k in flat and _flat_ok(flat[k]):
                return result(flat[k], "mapping")
        if preset:
            for k in group:
                t = _PRESET_KEYS[preset].get(k)
                if t in targets:
                    return result(t, how or "preset")
        for k in group:
            t = _SYNONYM_INDEX[table].get(k)
            if t is not None:
                return result(t, how or ("contract" if k == header_key(t) else "synonym"))
    return result(None, "extra")
