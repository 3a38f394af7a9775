"""Small data folders laid out exactly as vendors deliver them (CSMAR, Wind, industrial survey).

Layouts follow public scripts that read these downloads (docs/data.md): CSMAR CSV files
carry one header row of field codes, Excel downloads two more rows (Chinese name, unit);
FS tables hold opening-balance (01-01), interim and parent-company (Typrep B) rows; the
FN note tables use a numeric Typrep (1 = consolidated, 2 = parent) and 合计 total rows;
codes lose their leading zeros when a CSV has been through Excel. Wind sheets carry the
period and unit in multi-line or single-line headers, one column per report period,
``000001.SZ`` codes and a 数据来源：Wind footer. The survey uses Chinese headers with 千元.

Every amount below is chosen so that the support flows can be computed by hand; the
expected values and their arithmetic are in ``tests/test_vendor_exports.py``.
"""

from __future__ import annotations

from pathlib import Path

import xlsxwriter


def write_book(path: Path, sheets: dict[str, list[list]]) -> Path:
    wb = xlsxwriter.Workbook(str(path))
    for name, rows in sheets.items():
        ws = wb.add_worksheet(name)
        for i, row in enumerate(rows):
            for j, v in enumerate(row):
                if v is not None:
                    ws.write(i, j, v)
    wb.close()
    return path


def write_text(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_text(text, encoding=encoding)
    return path


# -- CSMAR -----------------------------------------------------------------------------
COMBAS = [
    ["Stkcd", "ShortName", "Accper", "Typrep", "A001000000", "A002000000", "A002101000", "A002125000",
     "A002201000", "A002203000"],
    ["证券代码", "证券简称", "会计期间", "报表类型", "资产总计", "负债合计", "短期借款", "一年内到期的非流动负债",
     "长期借款", "应付债券"],
    ["没有单位", "没有单位", "没有单位", "没有单位", "元", "元", "元", "元", "元", "元"],
    ["000001", "甲", "2019-01-01", "A", 900, 400, 100, 0, 100, 0],  # opening balance: excluded
    ["000001", "甲", "2019-12-31", "A", 1000, 500, 100, 20, 200, 80],  # debt 400
    ["000001", "甲", "2019-12-31", "B", 800, 300, 50, 0, 50, 0],  # parent company: excluded
    ["000001", "甲", "2020-06-30", "A", 1100, 520, 100, 0, 300, 100],  # interim: excluded
    ["000001", "甲", "2020-12-31", "A", 1200, 600, 100, 0, 300, 100],  # debt 500
    ["002001", "乙", "2019-12-31", "A", 500, 100, 0, 0, 0, 0],  # debt 0
    ["002001", "乙", "2020-12-31", "A", 600, 150, 50, None, None, None],  # debt 50
    ["300750", "丙", "2020-12-31", "A", 5000, 2000, 0, 0, 1000, 0],  # debt 1000
]

COMINS_CSV = """Stkcd,ShortName,Accper,Typrep,B001101000,B001211101,B001216000,B002000000
000001,甲,2019-12-31,A,2000,40,,100
000001,甲,2019-12-31,B,1500,30,,80
000001,甲,2020-12-31,A,2400,45,120,150
2001,乙,2019-12-31,A,800,0,40,20
2001,乙,2020-12-31,A,1000,0,50,30
300750,丙,2020-12-31,A,10000,30,600,900
"""

RD_CSV = """Symbol,EndDate,StateTypeCode,RDSpendSum,RDExpenses
000001,2019-12-31,1,90,80
000001,2020-12-31,1,130,120
"""

YBASIC_CSV = """Stkcd,Reptdt,Y0601b
1,2019-12-31,300
1,2020-12-31,320
2001,2019-12-31,150
2001,2020-12-31,160
300750,2020-12-31,5000
"""

FN056_CSV = """Stkcd,ShortName,Accper,DataSources,Typrep,Fn05601,Fn05602,Fn05603
000001,甲,2019-12-31,1,1,稳岗补贴,10,8
000001,甲,2019-12-31,1,1,研发补助,30,0
000001,甲,2019-12-31,1,1,合计,40,8
000001,甲,2019-12-31,1,2,稳岗补贴,6,5
000001,甲,2020-12-31,1,1,专精特新奖励,50,10
000001,甲,2020-12-31,1,1,合计,50,10
000001,甲,2020-12-31,2,1,专精特新奖励,50,
000001,甲,2020-12-31,2,1,合计,50,
2001,乙,2020-12-31,1,1,技改补助,20,
2001,乙,2020-12-31,1,1,合计,25,
300750,丙,2020-12-31,1,1,产业扶持资金,300,
300750,丙,2020-12-31,1,1,合计,300,
"""

TRD_CO_CSV = """Stkcd,Stknme,Indcd,Nindcd,Nnindcd,Listdt
1,甲,0003,C35,C35,1991-04-03
2001,乙,0003,C34,C34,2004-06-25
300750,丙,0003,C38,C38,2018-06-11
"""

# collected by hand from the MIIT lists: codes typed without their zeros
DESIGNATIONS_CSV = """企业代码,认定称号,认定年份,批次
2001,"专精特新""小巨人""企业",2019,1
300750,"专精特新""小巨人""企业",2020,2
"""

EQUITY_CSV = """firm_id,year,investor,investor_type,amount
000001,2020,某市产业引导基金,guidance_fund,100
000001,2020,某创投,private,70
"""


def csmar_folder(root: Path) -> Path:
    """A CSMAR download: FS_Combas as Excel (three header rows), the others as CSV (one header row)."""
    root.mkdir(parents=True, exist_ok=True)
    write_book(root / "FS_Combas.xlsx", {"FS_Combas": COMBAS})
    write_text(root / "FS_Comins.csv", COMINS_CSV)
    write_text(root / "PT_LCRDSPENDING.csv", RD_CSV)
    write_text(root / "CG_Ybasic.csv", YBASIC_CSV)
    write_text(root / "FN_Fn056.csv", FN056_CSV)
    write_text(root / "TRD_Co.csv", TRD_CO_CSV)
    write_text(root / "FS_Combas[DES][csv].txt", "Stkcd [证券代码] - 以沪、深、北证券交易所公布的证券代码为准。\n")
    write_text(root / "designations.csv", DESIGNATIONS_CSV)
    write_text(root / "equity.csv", EQUITY_CSV)
    return root


# -- Wind ------------------------------------------------------------------------------
WIND_FIN = [
    ["证券代码", "证券简称",
     "营业收入\n[报告期]2019年报\n[单位]万元",  # multi-line
     "营业收入[报告期]2020年报[单位]亿元",  # single line, another unit
     "营业收入(万元)\n[报告期]2020中报",  # mixed; an interim period: not read
     "资产总计[报告期]2019年报[单位]万元", "资产总计\n[报告期]20201231\n[单位]万元",
     "短期借款[报告期]2019年报[单位]万元", "短期借款[报告期]2020年报[单位]万元",
     "长期借款[报告期]2019年报[单位]万元", "长期借款[报告期]2020年报[单位]万元",
     "带息债务[报告期]2019年报[单位]万元", "带息债务[报告期]2020年报[单位]万元",
     "利息费用\n[报告期]2019年报\n[单位]万元", "利息费用\n[报告期]2020年报\n[单位]万元"],
    ["000001.SZ", "甲", 120.5, 0.15, 70, 900, 1000, 100, 100, 200, 300, 999, 999, 30, 40],
    ["600000.SH", "乙", 50, None, None, 400, None, 0, None, 50, None, 60, None, 5, None],
    [None],
    ["数据来源：Wind"],
]
WIND_FIRMS = [["证券代码", "证券简称", "所属申万行业"], ["000001.SZ", "甲", "机械设备"], ["600000.SH", "乙", "电子"]]


def wind_book(path: Path) -> Path:
    return write_book(path, {"企业": WIND_FIRMS, "财务": WIND_FIN})


# -- industrial survey -------------------------------------------------------------------
SURVEY_HEADER = ("法人代码,年份,企业名称,行业代码,省（自治区、直辖市）,主营业务收入(千元),补贴收入(千元),资产总计(千元),"
                 "负债合计(千元),利息支出(千元),全部从业人员年平均人数(人)\n")
SURVEY_2005 = SURVEY_HEADER + ("100000001,2005,甲厂,3411,浙江省,5000,20,8000,3000,30,120\n"
                               "100000002,2005,乙厂,3512,江苏省,3000,0,4000,1000,10,80\n")
SURVEY_2006 = SURVEY_HEADER + ("100000001,2006,甲公司,3411,浙江省,6000,12.5,8500,3100,32,125\n"
                               "100000002,2006,乙厂,3512,江苏省,3200,,4100,1100,11,82\n")


def survey_folder(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    write_text(root / "asif_2005.csv", SURVEY_2005)
    write_text(root / "asif_2006.csv", SURVEY_2006, encoding="gb18030")
    return root
