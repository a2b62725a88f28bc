"""caseload.py: reading caseloads as exported (CSV and .xlsx), finding the location columns, every
row kept with a status, messages for bad input, the UPRN column, the consent columns, and the
summary that ``heart-geo assign`` and the dashboard both report.

Everything runs on Testshire (:mod:`heart_geo.testing`): no real data.
"""

from __future__ import annotations

import io

import pandas as pd
import pytest

import heart_geo
from heart_geo import caseload
from heart_geo.caseload import CaseloadSummary
from heart_geo.errors import InputError
from heart_geo.excel import write_workbook
from heart_geo.settings import RESULT_COLUMNS
from heart_geo.testing import ANSWERS, POSTCODES, write_onsud, write_test_data

#: One row per made-up postcode (and three that are not in the data), with the answer each must get.
EXPECTED = {
    **{pc: (team or "", status, method) for pc, (team, status, method) in ANSWERS.items()},  # CSV: "" for none
    "TT1 9QQ": ("", "unknown_postcode", "none"),
    "not a postcode": ("", "invalid_postcode", "none"),
    "": ("", "missing_location", "none"),
}


def _csv(header: list[str], rows: list[list[str]], sep: str = ",") -> bytes:
    return ("\r\n".join(sep.join(r) for r in [header, *rows]) + "\r\n").encode("utf-8")


def _read(out: bytes) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(out), encoding="utf-8-sig", dtype=str, keep_default_na=False)


def _xlsx(header: list[str], rows: list[list]) -> bytes:
    buf = io.BytesIO()
    write_workbook(rows, buf, header)
    return buf.getvalue()


def test_every_made_up_postcode_is_in_the_test_table():
    assert set(POSTCODES) <= set(EXPECTED)


# --------------------------------------------------------------------------------------------------
# every row kept, in order, with a status
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("chunk_size", [1, 4, 100_000])
def test_every_row_kept_in_order_with_a_status(testshire, chunk_size):
    pcs = list(EXPECTED)
    data = _csv(["ref", "Post Code", "notes"], [[str(i), pc, f"note {i}"] for i, pc in enumerate(pcs)])
    out, s = caseload.allocate_bytes(testshire, data, name="cases.csv", chunk_size=chunk_size)
    df = _read(out)
    assert list(df.columns) == ["ref", "Post Code", "notes", *RESULT_COLUMNS]
    assert df["ref"].tolist() == [str(i) for i in range(len(pcs))]
    assert df["Post Code"].tolist() == pcs and df["notes"].tolist() == [f"note {i}" for i in range(len(pcs))]
    got = list(zip(df["team"], df["status"], df["method"], strict=True))
    assert got == [EXPECTED[pc] for pc in pcs]
    assert s.rows == len(pcs) and sum(s.status.values()) == len(pcs) == sum(s.team.values())
    assert s.status == {"allocated": 6, "nearest_team": 2, "missing_location": 2, "outside_area": 1,
                        "unknown_postcode": 1, "invalid_postcode": 1}
    assert s.team == {"North": 4, "East": 3, "South": 1, "(none)": 5}
    assert s.location == "postcode from column 'Post Code'" and s.note == ""


def test_summary_reads_as_attributes_and_as_the_dict_it_was(testshire):
    buf = io.StringIO()
    s = caseload.allocate_caseload(testshire, b"postcode\r\nTT1 1AB\r\n\r\nTT1 1AA\r\n", buf)
    assert isinstance(s, CaseloadSummary)
    assert s["rows"] == s.rows == 2 and s["blank_lines"] == s.blank_lines == 1
    assert s["team"] == {"East": 1, "North": 1} and s.get("sheet") is None and s.get("nope", 7) == 7
    assert set(s) == {"rows", "blank_lines", "status", "team", "encoding", "delimiter", "location",
                      "located_by", "format", "sheet", "note"}
    assert dict(s)["status"] == {"allocated": 2} and s == dict(s)
    with pytest.raises(KeyError):
        s["by_team"]  # only the counts read as keys


def test_summary_counts_are_suppressed_unless_asked(testshire):
    rows = [[str(i), "TT1 1AA"] for i in range(6)] + [["6", "TT1 1AB"], ["7", "nonsense"]]
    _, s = caseload.allocate_bytes(testshire, _csv(["ref", "postcode"], rows))
    exact = s.by_team(testshire.team_names, suppress=False)
    assert exact.to_dict("records") == [{"team": "North", "rows": 6}, {"team": "East", "rows": 1},
                                        {"team": "(none)", "rows": 1}]
    assert s.by_team(testshire.team_names)["rows"].tolist() == [6, "<5", "<5"]
    assert s.by_status(suppress=False).to_dict("records") == [{"status": "allocated", "rows": 7},
                                                              {"status": "invalid_postcode", "rows": 1}]
    # 7 would give the 1 away (8 rows in all): hidden too (secondary suppression)
    assert s.by_status()["rows"].tolist() == ["*", "<5"]


def test_result_columns_of_an_earlier_run_are_kept_not_used(testshire):
    first, _ = caseload.allocate_bytes(testshire, b"ref,postcode\r\n1,TT1 1AA\r\n")
    again, s = caseload.allocate_bytes(testshire, first.removeprefix(b"\xef\xbb\xbf"))
    df = _read(again)
    assert df.iloc[0].tolist()[:2] == ["1", "TT1 1AA"] and "team" in df.columns
    assert len(df.columns) == 2 + 2 * len(RESULT_COLUMNS)
    assert "result columns of an earlier run" in s.note


def test_result_names_never_clash_with_input_columns(testshire):
    df = _read(caseload.allocate_bytes(testshire, b"team,postcode\r\nmine,TT1 1AC\r\n")[0])
    assert df.columns.tolist()[:4] == ["team", "postcode", "team_heart_geo", "status"]
    assert df[["team", "team_heart_geo", "postcode_heart_geo"]].iloc[0].tolist() == ["mine", "South", "TT1 1AC"]


def test_the_upload_result_is_the_cli_summary_with_the_bytes(testshire):
    from heart_geo.uploads import CaseloadResult, allocate_caseload_bytes

    data = b"ref,postcode\r\n1,TT1 1AA\r\n2,TT1 1AC\r\n"
    r = allocate_caseload_bytes(testshire, data, name="c.csv")
    out, s = caseload.allocate_bytes(testshire, data, name="c.csv")
    assert isinstance(r, CaseloadResult) and r.summary == s and r.data == out == r.csv_bytes
    assert (r.rows, r.team_counts, r.status_counts, r.mime) == (2, {"North": 1, "South": 1}, {"allocated": 2},
                                                                 "text/csv")


# --------------------------------------------------------------------------------------------------
# reading: separators, encodings, spreadsheets
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("data, encoding, delimiter", [
    (b"ref,postcode\r\n1,TT1 1AB\r\n", "utf-8-sig", ","),
    (b"\xef\xbb\xbfref;postcode\r\n1;TT1 1AB\r\n", "utf-8-sig", ";"),
    (b"sep=;\r\nref;postcode\r\n1;TT1 1AB\r\n", "utf-8-sig", ";"),
    (b"ref\tPost Code\r\n1\tTT1 1AB\r\n", "utf-8-sig", "\t"),
    (b"ref|postcode|note\r\n1|TT1 1AB|a, b\r\n", "utf-8-sig", "|"),
    ("ref,name,postcode\r\n1,Zoë Ó'Brien,TT1 1AB\r\n".encode("cp1252"), "cp1252", ","),
    ("ref,name,postcode\r\n1,Zoë,TT1 1AB\r\n".encode("utf-16"), "utf-16", ","),
], ids=["comma", "bom-semicolon", "sep-line", "tab", "pipe", "cp1252", "utf-16"])
def test_separators_and_encodings(testshire, data, encoding, delimiter):
    out, s = caseload.allocate_bytes(testshire, data, name="c.csv")
    assert (s.encoding, s.delimiter, s.rows) == (encoding, delimiter, 1)
    df = _read(out)
    assert df["team"].tolist() == ["East"] and df["ref"].tolist() == ["1"]
    if "name" in df.columns:
        assert df["name"].iloc[0].startswith("Zoë")


def test_multiline_cells_short_rows_and_blank_lines(testshire):
    data = b'ref,note,postcode\r\n\r\n1,"line one\r\nline two",TT1 1AA\r\n   \r\n2\r\n\r\n3,x,TT1 1AC\r\n'
    out, s = caseload.allocate_bytes(testshire, data)
    df = _read(out)
    assert df["ref"].tolist() == ["1", "2", "3"] and df["note"].tolist() == ["line one\r\nline two", "", "x"]
    assert df["status"].tolist() == ["allocated", "missing_location", "allocated"]
    assert (s.rows, s.blank_lines) == (3, 3)


def test_header_only_gives_the_header_and_a_note(testshire):
    out, s = caseload.allocate_bytes(testshire, b"ref,postcode\r\n")
    assert s.rows == 0 and "no rows" in s.note
    assert _read(out).columns.tolist()[:3] == ["ref", "postcode", "team"]


def test_formulas_are_neutralised_and_numbers_kept(testshire):
    data = b'ref,name,postcode\r\n1,=HYPERLINK("x"),TT1 1AA\r\n2,@SUM(A1),TT1 1AB\r\n3,-5,TT1 1AC\r\n'
    df = _read(caseload.allocate_bytes(testshire, data)[0])
    assert df["name"].tolist() == ["'=HYPERLINK(\"x\")", "'@SUM(A1)", "-5"]


def test_xlsx_in_and_out_reads_like_csv(testshire):
    header, rows = ["ref", "Post Code"], [[1, "TT1 1AA"], [2, "TT1 1AB"], [3, "TT1 1AE"]]
    data = _xlsx(header, rows)
    case = caseload.read_caseload(data, name="c.xlsx")
    assert (case.header, case.format) == (header, "xlsx")
    assert [r for f in case.chunks for r in f.values.tolist()] == [[str(a), b] for a, b in rows]
    out, s = caseload.allocate_bytes(testshire, data, name="c.xlsx", out_format="xlsx")
    assert (s.format, s.sheet, s.rows, s.team) == ("xlsx", "data", 3, {"North": 2, "East": 1})
    back = caseload.read_caseload(out, name="out.xlsx")
    got = pd.concat(list(back.chunks))
    got.columns = back.header
    assert got["team"].tolist() == ["North", "East", "North"]
    assert got["status"].tolist() == ["allocated", "allocated", "nearest_team"]
    csv_out, _ = caseload.allocate_bytes(testshire, _csv(header, [[str(a), b] for a, b in rows]))
    assert _read(csv_out)["team"].tolist() == got["team"].tolist()


def test_a_named_sheet_and_a_missing_one(testshire, tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.title = "notes"
    wb.active.append(["this sheet has no location"])
    ws = wb.create_sheet("cases")
    ws.append(["ref", "postcode"])
    ws.append(["1", "TT1 1AC"])
    path = tmp_path / "book.xlsx"
    wb.save(path)
    _, s = caseload.allocate_bytes(testshire, path.read_bytes(), name="book.xlsx", sheet="cases")
    assert (s.sheet, s.team) == ("cases", {"South": 1})
    with pytest.raises(InputError, match="sheet"):
        caseload.allocate_bytes(testshire, path.read_bytes(), name="book.xlsx", sheet="nope")


# --------------------------------------------------------------------------------------------------
# column sniffing
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("header, kind, cols, crs", [
    (["ref", "Post Code"], "postcode", "column 'Post Code'", "EPSG:27700"),
    (["ref", "POSTCODE "], "postcode", "column 'POSTCODE '", "EPSG:27700"),
    (["pc"], "postcode", "column 'pc'", "EPSG:27700"),
    (["ref", "Home Address"], "address", "column 'Home Address'", "EPSG:27700"),
    (["id", "Easting", "Northing"], "points", "columns 'Easting', 'Northing'", "EPSG:27700"),
    (["Latitude", "Longitude"], "points", "columns 'Longitude', 'Latitude'", "EPSG:4326"),
    (["Previous Postcode", "Postcode"], "postcode", "column 'Postcode'", "EPSG:27700"),
    (["UPRN", "postcode"], "uprn", "column 'UPRN'", "EPSG:27700"),
])
def test_location_columns_are_found(header, kind, cols, crs):
    loc = caseload.find_location_columns(header, find_uprn=True)
    assert (loc.kind, loc.columns(header), loc.crs) == (kind, cols, crs)


def test_a_column_of_another_place_is_not_chosen():
    loc = caseload.find_location_columns(["Previous Postcode", "Postcode"])
    assert "not ['Previous Postcode']" in loc.note
    with pytest.raises(InputError, match="name a place other than the family's home"):
        caseload.find_location_columns(["Previous Postcode"])


def test_postcode_empty_falls_back_to_the_address(testshire):
    data = b"ref,postcode,address\r\n1,,12 Main St TT1 1AB\r\n2,TT1 1AC,1 High St TT1 1AA\r\n"
    out, s = caseload.allocate_bytes(testshire, data)
    assert _read(out)["team"].tolist() == ["East", "South"]  # the postcode column answers when it can
    assert s.located_by == {"column 'address'": 1}


def test_named_columns_win_and_coordinates_work(testshire):
    data = b"ref,postcode,x,y\r\n1,TT1 1AA,301500,601200\r\n"
    by_xy = _read(caseload.allocate_bytes(testshire, data, x_col="x", y_col="y")[0])
    assert by_xy["team"].tolist() == ["East"]
    assert _read(caseload.allocate_bytes(testshire, data)[0])["team"].tolist() == ["North"]


# --------------------------------------------------------------------------------------------------
# bad input: a message saying what and what was expected, never a cell
# --------------------------------------------------------------------------------------------------
SECRET = "Jane Secretname"


@pytest.mark.parametrize("data, match", [
    (b"", r"bad\.csv is empty: expected a header row"),
    (b"%PDF-1.4 " + SECRET.encode(), r"bad\.csv is a PDF document, not a CSV file or \.xlsx workbook"),
    (b"<html><body><table><tr><td>" + SECRET.encode() + b"</td></tr></table></body></html>",
     r"bad\.csv is a web page, XML or RTF document"),
    (f"{SECRET},TT1 1AA\r\nJohn,TT1 1AB\r\n".encode(), r"2 columns, not shown: the first row looks like data"),
    (f"ref,postcode\r\n1,TT1 1AA\r\n2,TT1 1AB,{SECRET}\r\n".encode(),
     r"row 2 \(line 3\) has 3 cells but the header has 2"),
    (f"ref,name\r\n1,{SECRET}\r\n".encode(),
     r"no location column in bad\.csv: .*2 columns: 1, 2 \(other names are not shown"),
], ids=["empty", "pdf", "html", "no-header", "too-many-cells", "no-location"])
def test_bad_input_says_what_was_expected_and_never_shows_a_cell(testshire, data, match):
    with pytest.raises(InputError, match=match) as e:
        caseload.allocate_bytes(testshire, data, name="bad.csv")
    assert SECRET not in str(e.value) and "TT1 1A" not in str(e.value)


def test_a_named_column_that_is_not_there(testshire):
    with pytest.raises(InputError, match=r"column 'Postcode' not found in c\.csv; 2 columns: 1, 2 'pc' \(other names"):
        caseload.allocate_bytes(testshire, b"ref,pc\r\n1,TT1 1AA\r\n", name="c.csv", postcode_col="Postcode")
    with pytest.raises(InputError, match="give both --x-col and --y-col"):
        caseload.allocate_bytes(testshire, b"ref,x\r\n1,2\r\n", x_col="x")


def test_too_many_rows_for_memory(testshire):
    data = _csv(["postcode"], [["TT1 1AA"]] * 11)
    with pytest.raises(InputError, match="more than 10 rows"):
        caseload.allocate_bytes(testshire, data, name="c.csv", max_rows=10)
    assert caseload.allocate_bytes(testshire, data, max_rows=11)[1].rows == 11


def test_the_output_is_never_the_input(tmp_path):
    src = tmp_path / "cases.csv"
    src.write_bytes(b"postcode\r\nTT1 1AA\r\n")
    with pytest.raises(InputError):
        caseload.check_output_path(src, src)
    assert caseload.check_output_path(tmp_path / "out.csv", src) == tmp_path / "out.csv"
    assert src.read_bytes() == b"postcode\r\nTT1 1AA\r\n"


# --------------------------------------------------------------------------------------------------
# UPRN column
# --------------------------------------------------------------------------------------------------
def test_uprn_column_answers_from_address_points(tmp_path):
    toml = write_test_data(tmp_path)
    write_onsud(tmp_path / "onsud_2025_11")
    prof = heart_geo.load_profile(toml, data_dir=tmp_path, cache=False)
    # TT1 1AJ's centroid is in North, but address 100000000014 lies in East
    data = b"ref,Property UPRN,postcode\r\n1,100000000014,TT1 1AJ\r\n2,,TT1 1AJ\r\n3,12345,TT1 1AC\r\n"
    out, s = caseload.allocate_bytes(prof, data)
    df = _read(out)
    assert df["team"].tolist() == ["East", "North", "South"]
    assert df["method"].tolist() == ["uprn", "catchment", "catchment"]
    assert s.location.startswith("UPRN from column 'Property UPRN'")
    # named with uprn_col, the same answer
    named, _ = caseload.allocate_bytes(prof, data.replace(b"Property UPRN", b"ref2"), uprn_col="ref2")
    assert _read(named)["method"].tolist()[0] == "uprn"


def test_uprn_column_without_address_points_answers_from_the_postcode(testshire):
    data = b"ref,UPRN,postcode\r\n1,100000000014,TT1 1AJ\r\n"
    df = _read(caseload.allocate_bytes(testshire, data)[0])
    assert (df["team"].tolist(), df["method"].tolist()) == (["North"], ["catchment"])


# --------------------------------------------------------------------------------------------------
# consent and risk-of-harm columns (enrolment files)
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("header, consent, risk", [
    (["school", "postcode", "consent", "risk_of_harm"], "consent", "risk_of_harm"),
    (["School", "Post Code", "Consent Given", "CP"], "Consent Given", "CP"),
    (["school", "postcode", "Consented", "Risk"], "Consented", "Risk"),
    (["school", "postcode"], None, None),
])
def test_consent_and_risk_columns_are_found(header, consent, risk):
    assert caseload.find_column(header, None, "consent", caseload.CONSENT_NAMES) == consent
    assert caseload.find_column(header, None, "risk_of_harm", caseload.RISK_NAMES) == risk


def test_a_named_consent_column_that_is_not_there():
    with pytest.raises(InputError, match=r"consent column 'Agreed' \(--consent-col\) not found in e\.csv"):
        caseload.find_column(["school", "consent"], "Agreed", "consent", caseload.CONSENT_NAMES,
                             what="consent", option="--consent-col", source="e.csv")


def test_an_enrolment_file_releases_only_rows_with_consent_or_risk(testshire):
    from heart_geo.links import enrolment_links, read_enrolments

    data = (b"School,Post Code,Consent Given,CP\r\n"
            b"8000009,TT1 1AA,yes,\r\n8000009,TT1 1AB,no,\r\n8000009,TT1 1AC,,Y\r\n8000009,TT1 1AB,maybe,\r\n")
    df, cols = read_enrolments(data, name="e.csv")
    assert (cols.school, cols.postcode, cols.consent, cols.risk) == ("School", "Post Code", "Consent Given", "CP")
    assert len(df) == 4
    r = enrolment_links(testshire, data, name="e.csv", suppress=False)
    assert r.summary["rows"] == 4 and r.summary["released"] == 2 and r.withheld == 2
    assert r.detail["row"].tolist() == [1, 3]
    assert r.detail["shared_because"].tolist() == ["consent", "risk_of_harm"]
    assert r.summary["consent_unclear"] == 1


def test_an_enrolment_file_without_a_school_column(testshire):
    from heart_geo.links import enrolment_links

    with pytest.raises(InputError, match=r"no school column in e\.csv: expected 'school' .*2 columns: 1, 2 'postcode'"):
        enrolment_links(testshire, b"pupil,postcode\r\n1,TT1 1AA\r\n", name="e.csv")
