"""Header detection that cannot eat a family (issue 22, point 1).

A caseload whose first row is a family's row is never read as the header: a row holding a
postcode-shaped cell is data, whatever words stand beside it ("No fixed address"); a row that could
be either is refused (exit 2) asking for a header; and no cell, header or not, reaches stderr or an
error message: columns are given by position, named only by the words this tool looks for.
"""

from __future__ import annotations

import csv
import io
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heart_geo import InputError
from heart_geo.caseload import allocate_caseload, describe_columns
from heart_geo.cli import main
from heart_geo.reading import first_row_kind

SECRET = "Qzorbladt"  # a made-up surname: must never be printed


@pytest.mark.parametrize(("first", "rest", "kind"), [
    (["Smith", "No fixed address", "KA1 2FE"], [["Jones", "1 High St", "KA1 2FF"]], "data"),
    (["1", "No fixed address, ZZ99 3VZ"], [["2", "flat 1"]], "data"),
    (["Smith", "No fixed address"], [["Jones", "No fixed address"]], "either"),
    (["Smith", "Address unknown"], [["Jones", "12 Kirk Rd"]], "either"),
    (["name", "postcode"], [["Smith", "KA1 2FE"]], "header"),
    (["Name", "Home address", "Post Code"], [["Smith", "1 High St", "KA1 2FE"]], "header"),
    (["ref", "Address line"], [["1", "1 High St"]], "header"),
    (["ref", "name"], [["1", "Smith"]], "header"),
])
def test_first_row_kind(first, rest, kind):
    assert first_row_kind(first, rest) == kind


def test_the_issues_family_is_refused_and_never_printed(tmp_path, testshire, capsys):
    """A headerless file whose first family has no fixed address: exit 2, nothing of the row shown."""
    src = tmp_path / "c.csv"
    src.write_text(f"{SECRET},No fixed address,TT1 1AA\nJones,1 High St,TT1 1AB\n", encoding="utf-8")
    toml = testshire.data_dir / "testshire.toml"
    code = main(["assign", "--profile", str(toml), "--data-dir", str(testshire.data_dir), str(src), "-o",
                 str(tmp_path / "o.csv")])
    out, err = capsys.readouterr()
    assert code == 2 and "header" in err
    assert SECRET not in err + out and "No fixed address" not in err + out and "TT1 1AA" not in err + out
    assert not (tmp_path / "o.csv").exists()


def test_messages_give_positions_not_cells():
    text = describe_columns([SECRET, "postcode", "No fixed address"])
    assert text.startswith("3 columns: 1, 2 'postcode', 3") and SECRET not in text and "fixed" not in text


# --------------------------------------------------------------------------------------------------
# property: any caseload whose first row is a family's row never loses it
# --------------------------------------------------------------------------------------------------
_WORD = st.text(alphabet=string.ascii_letters + " '-", min_size=1, max_size=12).filter(lambda s: s.strip())
_CELL = st.one_of(_WORD, st.sampled_from(["No fixed address", "Address unknown", "n/a", "", "Postcode",
                                          "Home address", "not known", "12 High Street", "Flat 2/1"]))
_POSTCODE = st.sampled_from(["TT1 1AA", "tt11ab", "TT1 1AC", "KA18 1FQ", "ZZ99 3VZ", "TT1 1ZZ"])


@st.composite
def _headerless(draw):
    """Rows of a caseload with no header: each row has a postcode cell and other cells."""
    width = draw(st.integers(1, 4))
    at = draw(st.integers(0, width))
    rows = []
    for _ in range(draw(st.integers(1, 6))):
        cells = [draw(_CELL) for _ in range(width)]
        cells.insert(at, draw(_POSTCODE))
        rows.append(cells)
    return rows


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=_headerless())
def test_a_first_row_of_data_is_never_lost(testshire, rows):
    rows[0].append(SECRET)  # the family's name: it must never be shown
    for r in rows[1:]:
        r.append("Jones")
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    out = io.StringIO()
    try:
        allocate_caseload(testshire, buf.getvalue().encode(), out)
    except InputError as exc:  # refused, asking for a header: nothing of the row shown
        assert "header" in str(exc) and SECRET not in str(exc)
        assert not any(c.strip() and c.strip() in str(exc) for c in rows[0] if len(c.strip()) > 4
                       and c.strip() not in ("Postcode", "Home address"))
        return
    pytest.fail("a headerless caseload was read: its first family would have been taken for the header")
