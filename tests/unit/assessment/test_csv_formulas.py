"""CSV exports do not let a spreadsheet run a cell: names beginning with a formula character are quoted
as text (docs/security.md, Spreadsheet formulas in exports)."""
import csv
import io
from datetime import date
from decimal import Decimal

import pytest

from services.assessment.domain.figures import FIGURE_NAMES, Figure
from services.assessment.domain.scoring import Ranked
from services.assessment.export import ranking_csv
from services.assessment.facts import DataQuality, Unit
from services.assessment.ranking import Item, MonthRanking


def _rows(name: str) -> list[dict[str, str]]:
    unit = Unit("station", "990101001", name=name, county_code="990101", cohort="urban")
    ranked = Ranked(unit=unit.code, score=Decimal("87.5"), grade="A", candidate=True, red_line=False, rank=1,
                    tied_with=(), rankable_weight=Decimal(1), contributions=())
    figures = {n: Figure(n, 0.5, 1, 2, True) for n in FIGURE_NAMES}
    ranking = MonthRanking(date(2024, 5, 1), "station", "city", "v1", [Item(unit, figures, ranked)], [],
                           DataQuality(calls=0, without_unit=0, unknown_codes=()))
    return list(csv.DictReader(io.StringIO(ranking_csv(ranking), newline="")))


@pytest.mark.parametrize("name", ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)",
                                  "\t=1", "\r=1"])
def test_a_cell_beginning_with_a_formula_character_is_text(name):
    (row,) = _rows(name)
    cells = list(row.values())
    assert name not in cells, "the formula reached the file as is"
    assert "'" + name in cells


def test_ordinary_names_and_numbers_are_left_alone():
    (row,) = _rows("东城派出所")
    assert "东城派出所" in row.values() and "'东城派出所" not in row.values()
    assert "87.5" in row.values()


@pytest.mark.parametrize("name", ["东城\r=1+1", "东城\n=1+1", '东城,"=1"'])
def test_a_line_break_inside_a_name_starts_no_row(name):
    rows = _rows(name)
    assert len(rows) == 1, "a CR or LF in a cell split the row, and the next row began with a formula"
    assert name in rows[0].values()
