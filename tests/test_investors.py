"""Investor types: Chinese and English labels of state-linked and private investors; unknown labels are loud."""

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import finsupport as fs
from finsupport.measure.equity import equity_flows
from finsupport.measure.investors import (
    INVESTOR_TYPE_LABELS,
    classify_investor_types,
    normalise_label,
)

STATE_LABELS = {
    "政府引导基金": "guidance_fund", "产业投资基金": "guidance_fund", "引导基金": "guidance_fund",
    "Government Guidance Fund": "guidance_fund", "GGF": "guidance_fund",
    "国有创投": "state_vc", "State-owned VC": "state_vc", "state_vc": "state_vc",
    "国有企业": "soe", "国资": "soe", "国有资本投资运营公司": "soe", "国有法人": "soe", "SOE": "soe",
    "State-Owned Enterprise": "soe", "央企": "soe",
    "政府": "government", "地方政府平台": "government", "地方政府融资平台": "government", "LGFV": "government",
    "Local Government": "government",
}
PRIVATE_LABELS = ["民营", "私募", "外资", "个人", "自然人", "VC/PE", "private", "Private Equity", "境内非国有法人",
                  "境外法人", "natural person", "individual"]


def _equity(types, amounts=None):
    n = len(types)
    return pd.DataFrame({"firm_id": ["001"] * n, "year": [2017] * n, "investor": [f"I{k}" for k in range(n)],
                         "investor_type": types, "amount": amounts or [10.0] * n})


def test_regression_chinese_guidance_fund_and_state_vc_count_as_state_equity(make_tiny):
    """Issue regression: rows typed 政府引导基金 / 国有创投 counted as zero state equity, with no log entry."""
    eq = _equity(["政府引导基金", "国有创投", "民营"], [40.0, 25.0, 60.0])
    data = make_tiny(equity=eq)
    f = fs.support_flows(data).set_index(["firm_id", "year"])
    # 40 (guidance fund) + 25 (state VC) = 65; the private 60 is not state equity
    assert f.loc[("001", 2017), "equity"] == 65.0
    assert f.loc[("001", 2017), "n_state_investments"] == 2
    log = data.quality.to_frame()
    read = log[log["issue"] == "investor type read as a contract type"]
    assert set(read["detail"]) == {"政府引导基金 → guidance_fund", "国有创投 → state_vc", "民营 → private"}
    assert not ((log["action"] == "flagged") & (log["table"] == "equity")).any()


@pytest.mark.parametrize("label, expected", sorted(STATE_LABELS.items()))
def test_state_labels(label, expected):
    t = classify_investor_types(pd.Series([label]))
    assert t.type[0] == expected and t.state[0] and not t.unknown[0]


@pytest.mark.parametrize("label", PRIVATE_LABELS)
def test_private_labels_are_known_and_not_state(label):
    t = classify_investor_types(pd.Series([label]))
    assert t.type[0] == "private" and not t.state[0] and not t.unknown[0]


def test_unknown_types_are_flagged_counted_and_warned(make_tiny):
    eq = _equity(["guidance_fund", "其他", "其他", "创投", "Fund X", None], [10.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    data = make_tiny(equity=eq)
    f = fs.support_flows(data)
    assert f.loc[(f["firm_id"] == "001") & (f["year"] == 2017), "equity"].item() == 10.0
    log = data.quality.to_frame()
    flagged = log[(log["action"] == "flagged") & (log["table"] == "equity")]
    assert len(flagged[flagged["issue"] == "investor type not recognised"]) == 4
    assert len(flagged[flagged["issue"] == "investor type missing"]) == 1
    assert (flagged["column"] == "investor_type").all()
    (warning,) = f.attrs["warnings"]
    assert warning.startswith("4 equity row(s) with an investor type that is neither state-linked nor known private")
    # most frequent first, each with its row count
    assert "'其他' (2), " in warning and "'创投' (1)" in warning and "'Fund X' (1)" in warning
    assert "1 equity row(s) without an investor type" in warning and "NOT state-linked" in warning


def test_no_warning_when_every_type_is_known(tiny):
    f = fs.support_flows(tiny)
    assert f.attrs["warnings"] == []


def test_user_listed_label_counts_as_state():
    eq = _equity(["城投", "平台公司"], [7.0, 8.0])
    f = equity_flows(eq, state_investor_types=["guidance_fund", "平台公司"])
    # 平台公司 is listed by the user; 城投 reads as government, which this list leaves out
    assert f["equity"].item() == 8.0


def test_narrower_state_list_leaves_known_types_out_without_flagging_them():
    t = classify_investor_types(pd.Series(["国有企业", "政府引导基金"]), state_investor_types=["guidance_fund"])
    assert t.state.tolist() == [False, True] and not t.unknown.any()


def test_cvd_basis_uses_the_same_classification():
    eq = _equity(["政府引导基金"], [100.0])
    f = equity_flows(eq, basis="grant_equivalent", aul_years=5)
    assert f["equity_state_gross"].sum() == 100.0 and f["equity"].sum() > 0


def test_embedded_example_has_no_unknown_investor_type():
    data = fs.load_example()
    f = fs.support_flows(data)
    assert f.attrs["warnings"] == []
    log = data.quality.to_frame()
    assert not log["issue"].isin(["investor type not recognised", "investor type missing"]).any()


@settings(max_examples=60, deadline=None)
@given(label=st.sampled_from(sorted(STATE_LABELS) + PRIVATE_LABELS),
       upper=st.booleans(), pad=st.sampled_from(["", " ", "  ", "\u3000"]), fullwidth=st.booleans())
def test_spelling_variants_read_the_same(label, upper, pad, fullwidth):
    """Case, surrounding spaces and full-width forms do not change the type."""
    v = label.upper() if upper else label
    if fullwidth:  # ASCII → full-width forms (NFKC folds them back)
        v = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in v)
    base = classify_investor_types(pd.Series([label])).type[0]
    assert classify_investor_types(pd.Series([pad + v + pad])).type[0] == base


def test_label_table_has_no_conflicts():
    # every normalised label maps to exactly one type (a label listed twice would silently win)
    from finsupport.measure.investors import _LABELS

    seen: dict[str, str] = {}
    for t, labels in _LABELS.items():
        for lab in labels:
            k = normalise_label(lab)
            assert seen.setdefault(k, t) == t, (lab, seen[k], t)
    assert len(INVESTOR_TYPE_LABELS) == len(seen)
