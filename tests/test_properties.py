"""Property-based tests (hypothesis) on the made-up Testshire council.

* allocation does not depend on how a postcode is typed (case, spaces, Code-Point's 7-character form,
  inside an address);
* every point inside the council gets exactly one team or an explicit status;
* output has the input's rows in the input's order (API and CSV);
* the fast bulk path equals the exact path.
"""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heart_geo import caseload
from heart_geo.postcodes import normalise_postcode
from heart_geo.settings import STATUSES
from heart_geo.testing import POSTCODES, X0, Y0

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
TEAM_STATUSES = {"allocated", "nearest_team", "terminated_postcode"}
KNOWN = list(POSTCODES)


# --------------------------------------------------------------------------------------------------
# how a postcode is typed
# --------------------------------------------------------------------------------------------------
@st.composite
def typed(draw):
    """(canonical postcode, one way a person or a system might type it)."""
    pc = draw(st.sampled_from(KNOWN + ["TT9 9ZZ"]))  # known ones and one well-formed unknown one
    outward, inward = (pc[:-3].strip(), pc[-3:])
    style = draw(st.sampled_from(["canonical", "compact", "codepoint", "spaces", "address"]))
    if style == "compact":
        text = outward + inward
    elif style == "codepoint":  # Code-Point Open's fixed 7 characters: "TT1 1AA", "G1  1AA", "TT101AA"
        text = outward.ljust(4) + inward
    elif style == "spaces":
        sp = st.text(alphabet=" \t", min_size=0, max_size=3)
        text = draw(sp) + outward + draw(st.text(alphabet=" ", min_size=0, max_size=3)) + inward + draw(sp)
    elif style == "address":
        words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ,.'-", min_size=0, max_size=30)
        number = draw(st.integers(min_value=1, max_value=999))
        sep = draw(st.sampled_from([", ", " ", "\n", ",\t"]))
        tail = draw(st.sampled_from(["", ", Scotland", "\nUK", " (home)"]))
        text = f"{number} {draw(words)}{sep}{outward} {inward}{tail}"
    else:
        text = pc
    case = draw(st.sampled_from([str.upper, str.lower, str.title, lambda s: s]))
    return pc, case(text)


@SETTINGS
@given(st.lists(typed(), min_size=1, max_size=12))
def test_spelling_does_not_change_the_answer(testshire, pairs):
    canon = testshire.allocate([p for p, _ in pairs]).drop(columns="query")
    typed_ = testshire.allocate([t for _, t in pairs]).drop(columns="query")
    pd.testing.assert_frame_equal(canon, typed_)
    for (pc, text), row in zip(pairs, typed_.itertuples(), strict=True):
        assert row.postcode == normalise_postcode(pc)
        one = testshire.lookup(text)
        assert one["status"] == row.status
        assert one["team"] == (row.team if isinstance(row.team, str) else None)


# --------------------------------------------------------------------------------------------------
# points
# --------------------------------------------------------------------------------------------------
# the council outline is X0-500 .. X0+2500; snap some points onto catchment edges and corners
coord = st.one_of(
    st.floats(min_value=-1500, max_value=3500, allow_nan=False),
    st.sampled_from([-500, 0, 500, 950, 1000, 1050, 2000, 2500]).map(float),
    st.integers(min_value=-500, max_value=2500).map(float),
)
points = st.lists(st.tuples(coord, coord), min_size=1, max_size=40)


@SETTINGS
@given(points)
def test_every_point_gets_one_team_or_an_explicit_status(testshire, pts):
    x = np.array([X0 + a for a, _ in pts])
    y = np.array([Y0 + b for _, b in pts])
    out = testshire.allocate_points(x, y)
    assert len(out) == len(pts)
    assert out["status"].astype(str).isin(STATUSES).all()
    # inside the outline by more than a metre (the outline went through WGS84 and back)
    inside = (x > X0 - 499) & (x < X0 + 2499) & (y > Y0 - 499) & (y < Y0 + 2499)
    for i, row in enumerate(out.itertuples()):
        has_team = isinstance(row.team, str)
        assert has_team == (row.status in TEAM_STATUSES), row
        if has_team:
            assert row.team in testshire.team_names
        if inside[i]:  # inside the council outline: a team, always
            assert row.status in ("allocated", "nearest_team"), (x[i] - X0, y[i] - Y0, row.status)
        else:
            assert row.status in ("outside_area", "allocated", "nearest_team")
        if row.status == "nearest_team":
            assert row.distance_m >= 0
    # input order kept
    np.testing.assert_array_equal(out["easting"].to_numpy(), x)
    np.testing.assert_array_equal(out["northing"].to_numpy(), y)


@SETTINGS
@given(points)
def test_fast_path_equals_exact_path(testshire, pts):
    x = [X0 + a for a, _ in pts]
    y = [Y0 + b for _, b in pts]
    fast = testshire.allocate_points(x, y)
    exact = testshire.allocate_points(x, y, exact=True)
    pd.testing.assert_frame_equal(fast, exact)


@SETTINGS
@given(st.lists(st.sampled_from(KNOWN + ["", None, "nonsense", "TT9 9ZZ", "tt1 1aa, flat 2"]), max_size=30))
def test_allocate_keeps_rows_and_order(testshire, values):
    out = testshire.allocate(values)
    assert out["query"].tolist() == values
    single = [testshire.allocate([v]).iloc[0]["status"] for v in values]
    assert out["status"].astype(str).tolist() == [str(s) for s in single]


# --------------------------------------------------------------------------------------------------
# CSV: every row and cell back, in order, whatever the cells hold
# --------------------------------------------------------------------------------------------------
cell = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(st.tuples(cell, st.sampled_from(KNOWN + ["", "xx", "TT9 9ZZ"]), cell), min_size=0, max_size=25),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]),
    chunk=st.integers(min_value=1, max_value=7),
)
def test_csv_rows_kept_in_order(testshire, rows, encoding, chunk):
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["name", "postcode", "notes"])
    w.writerows(rows)
    data = buf.getvalue().encode(encoding)
    out, summary = caseload.allocate_csv_bytes(testshire, data, chunk_size=chunk)
    got = list(csv.reader(io.StringIO(out.decode("utf-8-sig"), newline="")))
    assert got[0][:3] == ["name", "postcode", "notes"]
    assert summary["rows"] == len(rows) == len(got) - 1
    for want, back in zip(rows, got[1:], strict=True):
        assert back[:3] == [caseload.neutralise_cell(v) for v in want]  # exact: "'=" in stays "'="
        for v in back:  # nothing a spreadsheet would run
            assert not (v[:1] in tuple("=+-@\t\r") and not caseload._NUMBER.match(v)), v
    expect = testshire.allocate([r[1] for r in rows])["status"].astype(str).tolist()
    assert [r[4] for r in got[1:]] == expect


@pytest.mark.parametrize("enc", ["cp1252"])
def test_cp1252_roundtrip(testshire, enc):
    data = "name,postcode\r\nZoë Ó'Brien,TT1 1AA\r\nFrançois Œdipe,tt1 1ac\r\n".encode(enc)
    out, s = caseload.allocate_csv_bytes(testshire, data)
    assert s["encoding"] == "cp1252"
    assert "Zoë Ó'Brien" in out.decode("utf-8") and "François Œdipe" in out.decode("utf-8")
