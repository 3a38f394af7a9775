"""Investor types of equity rows: which are state-linked, which private, which unknown.

Equity tables arrive with investor types written as the contract's codes
(``guidance_fund``), in Chinese as vendors and registries write them (政府引导基金,
国有创投, 国有法人 …) or in English variants (``Government Guidance Fund``, ``SOE``).
:func:`classify_investor_types` reads every known spelling as one of the contract's
types; a label that is neither state-linked nor a known private type is *unknown*, and
the caller records it (it is never silently counted as zero state equity).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..data.spec import STATE_INVESTOR_TYPES

__all__ = ["INVESTOR_TYPE_LABELS", "STATE_LINKED_TYPES", "classify_investor_types", "InvestorTypes",
           "normalise_label"]

#: The contract's state-linked investor types (the default of ``state_investor_types``).
STATE_LINKED_TYPES = STATE_INVESTOR_TYPES

# Labels (any case, full-width or half-width, spaces/underscores/hyphens/slashes alike) → contract type.
# Exact matches only: CSMAR's 股东性质 writes 境内非国有法人 (private), which contains 国有.
# Generic words that fit state and private investors alike (创投, 风投, 基金, 其他) are left
# unknown on purpose, so that they are flagged rather than guessed.
_LABELS: dict[str, tuple[str, ...]] = {
    "guidance_fund": (
        "guidance_fund", "guidance fund", "government guidance fund", "govt guidance fund", "ggf",
        "government fund", "government investment fund", "industrial investment fund", "industry investment fund",
        "industrial guidance fund", "industry guidance fund", "state guidance fund",
        "政府引导基金", "引导基金", "政府投资基金", "政府出资产业投资基金", "产业投资基金", "产业引导基金",
        "创业投资引导基金", "创投引导基金", "政府产业基金", "国家产业投资基金", "国家级产业投资基金",
        "国家级基金", "政府基金", "国家级政府引导基金", "省级政府引导基金", "省级引导基金", "市级政府引导基金",
        "市级引导基金", "区县级政府引导基金", "国家级引导基金",
    ),
    "state_vc": (
        "state_vc", "state vc", "state-owned vc", "state owned vc", "state venture capital",
        "state-owned venture capital", "state owned venture capital", "state-owned investment firm",
        "state-owned pe", "state owned pe", "state-owned private equity",
        "国有创投", "国有风投", "国资创投", "国有创业投资", "国有创业投资机构", "国有投资机构", "国有投资公司",
        "国有私募", "国有基金", "国资基金",
    ),
    "soe": (
        "soe", "soes", "state-owned enterprise", "state owned enterprise", "state-owned", "state owned",
        "central soe", "local soe", "state capital", "state-owned capital", "state-owned legal person",
        "state legal person", "state capital investment company", "state capital operating company",
        "国有企业", "国企", "央企", "中央企业", "地方国企", "地方国有企业", "国有控股企业", "国有控股",
        "国资", "国有资本", "国有资本投资运营公司", "国有资本投资公司", "国有资本运营公司", "国有法人",
        "国有股东", "国有法人股", "国有股", "国有",
    ),
    "government": (
        "government", "govt", "gov", "local government", "central government", "government agency",
        "local government platform", "local government financing vehicle", "lgfv", "state shares",
        "政府", "地方政府", "中央政府", "政府机构", "政府部门", "财政", "财政部门", "国资委", "国有资产监督管理委员会",
        "地方政府平台", "地方政府融资平台", "政府平台", "政府融资平台", "城投", "城投公司", "国家", "国家股",
        "国家机关",
    ),
    "private": (
        "private", "private investor", "private company", "private enterprise", "private fund",
        "private equity", "pe", "vc", "vc/pe", "pe/vc", "venture capital", "angel", "angel investor",
        "individual", "natural person", "foreign", "foreign investor", "foreign company", "employee",
        "employee shareholding platform", "management", "founder",
        "民营", "民营企业", "民企", "私营", "私营企业", "私募", "私募基金", "私募股权", "私募股权基金", "私募股权投资基金",
        "市场化基金", "市场化机构", "外资", "外资企业", "外商", "外商投资", "境外", "境外机构",
        "境外法人", "境外自然人", "个人", "自然人", "境内自然人", "境内非国有法人", "非国有法人", "天使投资",
        "天使投资人", "员工持股平台", "员工持股", "创始人", "管理层", "社会资本",
    ),
}

_SEP = re.compile(r"[\s_\-/·・]+")


def normalise_label(label) -> str:
    """Canonical spelling of a label: NFKC, lower case, separators (space _ - / ·) removed."""
    return _SEP.sub("", unicodedata.normalize("NFKC", str(label)).strip().lower())


#: Normalised label → contract investor type.
INVESTOR_TYPE_LABELS: dict[str, str] = {normalise_label(lab): t for t, labs in _LABELS.items() for lab in labs}


@dataclass
class InvestorTypes:
    """Classification of the rows of an equity table.

    ``type``: the contract type each row's label reads as (``None`` where unknown);
    ``state``: counted as state-linked; ``unknown``: neither state-linked nor a known
    type (the label is not in :data:`INVESTOR_TYPE_LABELS` nor in the state list);
    ``missing``: no investor type given; ``renamed``: a known label other than the
    contract's own code (read as ``type``).
    """

    type: np.ndarray
    state: np.ndarray
    unknown: np.ndarray
    missing: np.ndarray
    renamed: np.ndarray

    def unknown_labels(self, labels: pd.Series) -> pd.Series:
        """Rows per unknown label, most frequent first."""
        return labels[self.unknown].astype("string").str.strip().value_counts()


def classify_investor_types(labels: pd.Series, *, state_investor_types: Iterable[str] = STATE_LINKED_TYPES
                            ) -> InvestorTypes:
    """Read investor-type labels as the contract's types and mark the state-linked rows.

    Rule: a label is normalised (:func:`normalise_label`) and looked up in
    :data:`INVESTOR_TYPE_LABELS` (Chinese labels such as 政府引导基金, 产业投资基金 →
    ``guidance_fund``; 国有创投 → ``state_vc``; 国有企业, 国资, 国有资本投资运营公司, 国有法人 →
    ``soe``; 政府, 地方政府平台 → ``government``; 民营, 私募, 外资, 个人, 自然人, VC/PE →
    ``private``; English variants alike). A row is state-linked when its type, or its
    label as written, is in ``state_investor_types`` (so a user may list a label of their
    own, e.g. ``"城投"``). A label that is neither state-linked nor known is *unknown*.

    Parameters
    ----------
    labels : Series
        The ``investor_type`` column.
    state_investor_types : iterable of str
        Types (or labels) counted as state-linked; default guidance_fund, state_vc, soe,
        government.

    Returns
    -------
    InvestorTypes
    """
    state_keys = {normalise_label(t) for t in state_investor_types}
    state_types = {INVESTOR_TYPE_LABELS.get(k, k) for k in state_keys}
    codes, uniques = pd.factorize(labels.astype("string"), use_na_sentinel=True)
    # one lookup per distinct label, then broadcast to the rows
    keys = [normalise_label(u) for u in uniques]
    u_type = np.array([INVESTOR_TYPE_LABELS.get(k) for k in keys], dtype=object)
    u_state = np.array([(k in state_keys) or (t is not None and t in state_types) for k, t in zip(keys, u_type,
                                                                                                   strict=True)],
                       dtype=bool)
    u_unknown = np.array([t is None for t in u_type], dtype=bool) & ~u_state
    u_renamed = np.array([t is not None and k != t.replace("_", "") for k, t in zip(keys, u_type, strict=True)],
                         dtype=bool)
    missing = codes < 0
    take = np.where(missing, 0, codes)

    def rows(u: np.ndarray, fill):
        if not len(u):
            return np.full(len(codes), fill, dtype=u.dtype if u.dtype != object else object)
        return np.where(missing, fill, u[take])

    return InvestorTypes(type=rows(u_type, None), state=rows(u_state, False), unknown=rows(u_unknown, False),
                         missing=missing, renamed=rows(u_renamed, False))
