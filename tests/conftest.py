import pandas as pd
import pytest

import finsupport as fs


def tiny_dataset(**over) -> "fs.Dataset":
    """Two firms, three years; numbers small enough to check by hand."""
    tables = dict(
        firms=pd.DataFrame({"firm_id": ["001", "002"], "name": ["A", "B"], "sector": ["robots", "robots"]}),
        financials=pd.DataFrame({
            "firm_id": ["001", "001", "001", "002", "002", "002"],
            "year": [2016, 2017, 2018, 2016, 2017, 2018],
            "revenue": [1000.0, 1000.0, 2000.0, 3000.0, 3000.0, 3000.0],
            "interest_bearing_debt": [100.0, 300.0, 300.0, 0.0, 0.0, 0.0],
            "interest_expense": [5.0, 6.0, 15.0, 0.0, 0.0, 0.0],
        }),
        grants=pd.DataFrame({
            "firm_id": ["001", "001", "002"], "year": [2016, 2017, 2018], "amount": [50.0, 20.0, 30.0],
            "recurring": [True, False, False], "programme": ["a", "b", "c"],
        }),
        equity=pd.DataFrame({
            "firm_id": ["001", "001", "002"], "year": [2017, 2017, 2018], "investor": ["F", "P", "S"],
            "investor_type": ["guidance_fund", "private", "SOE"], "amount": [40.0, 60.0, 90.0],
        }),
    )
    tables.update(over)
    return fs.Dataset(**tables)


@pytest.fixture
def tiny():
    return tiny_dataset()


@pytest.fixture
def make_tiny():
    """Factory: ``make_tiny(grants=...)`` builds the tiny dataset with tables replaced."""
    return tiny_dataset
