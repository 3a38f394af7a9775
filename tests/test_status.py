import pandas as pd
import pytest

import finsupport as fs
from finsupport.certify.status import designation_status
from finsupport.errors import ConfigError, DataError


def _data(des: pd.DataFrame) -> fs.Dataset:
    firms = pd.DataFrame({"firm_id": ["A", "B", "C", "D", "E"]})
    fin = pd.DataFrame({"firm_id": ["A"] * 8, "year": range(2018, 2026), "revenue": 1.0})
    return fs.Dataset(firms=firms, financials=fin, designations=des)


DES = pd.DataFrame({
    # A: award 2019 (in force 2019–2021), renewed 2022 (2022–2024)
    # B: award 2019 revoked from 2020 -> in force 2019 only
    # C: award 2020 with valid_until 2020 -> one year
    # D: specialized_sme 2018 (2018–2020) and little_giant 2020 (2020–2022)
    "firm_id": ["A", "A", "B", "C", "D", "D"],
    "tier": ["little_giant", "little_giant", "little_giant", "little_giant", "specialized_sme", "little_giant"],
    "year": [2019, 2022, 2019, 2020, 2018, 2020],
    "batch": [1, 4, 1, 2, None, 2],
    "valid_until": [None, None, None, 2020, None, None],
    "revoked_year": [None, None, 2020, None, None, None],
})


def test_validity_renewal_revocation_and_tiers():
    s = designation_status(_data(DES)).set_index(["firm_id", "year"])
    active = s["active"].unstack()
    assert active.loc["A"].loc[2019:2024].all() and not active.loc["A", 2018] and not active.loc["A", 2025]
    assert active.loc["B"].tolist() == [y == 2019 for y in range(2018, 2026)]
    assert active.loc["C"].tolist() == [y == 2020 for y in range(2018, 2026)]
    assert not active.loc["E"].any()
    # cohort = first award year; years_since negative before, missing for never
    assert s.loc[("A", 2025), "cohort"] == 2019 and s.loc[("A", 2018), "years_since"] == -1
    assert s.loc[("E", 2020), "cohort"] == 0 and pd.isna(s.loc[("E", 2020), "years_since"])
    assert s.loc[("A", 2023), "batch"] == 1 and bool(s.loc[("B", 2024), "ever"])
    # highest tier in force: D holds specialized_sme 2018–2020 and little_giant 2020–2022
    assert s.loc[("D", 2018), "highest_tier"] == "specialized_sme"
    assert s.loc[("D", 2020), "highest_tier"] == "little_giant"
    assert s.loc[("D", 2023), "highest_tier"] == ""
    # status for the lower tier
    sp = designation_status(_data(DES), tier="specialized_sme").set_index(["firm_id", "year"])
    assert sp.loc[("D", 2020), "active"] and not sp.loc[("D", 2021), "active"]
    assert sp.loc[("D", 2019), "cohort"] == 2018


def test_revocation_after_renewal_ends_both_awards():
    des = pd.DataFrame({"firm_id": ["A", "A"], "tier": ["little_giant"] * 2, "year": [2019, 2021],
                        "revoked_year": [None, 2022]})
    s = designation_status(_data(des), years=range(2018, 2026)).set_index(["firm_id", "year"])
    assert s.loc["A"]["active"].tolist() == [False, True, True, True, False, False, False, False]


def test_errors():
    with pytest.raises(DataError, match="designations"):
        designation_status(fs.Dataset(financials=pd.DataFrame({"firm_id": ["A"], "year": [2019], "revenue": [1.0]})))
    with pytest.raises(ConfigError, match="tier"):
        designation_status(_data(DES), tier="gold")


def test_embedded_example_cohorts():
    s = designation_status(fs.load_example())
    first = s.drop_duplicates("firm_id")["cohort"].value_counts().to_dict()
    assert first == {0: 150, 2020: 34, 2021: 25, 2022: 25, 2019: 10}
    # the 2019 batch is renewed in 2022: in force every year 2019–2022
    a = s[s["cohort"] == 2019].groupby("year")["active"].all()
    assert a.loc[2019:2022].all()
