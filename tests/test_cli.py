"""Writing safely: atomic outputs, formula neutralising in every CSV written, the derived-data cache
rebuilt when corrupt; and the command line's everyday behaviour."""

from __future__ import annotations

import csv
import io
import json
import os
import stat

import pandas as pd
import pytest

from heart_geo import caseload
from heart_geo.cli import main
from heart_geo.testing import write_test_data

pytestmark = pytest.mark.usefixtures("cache_dir")


def run(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def prof(d):
    return ["--profile", d / "testshire.toml", "--data-dir", d]


def caseload_file(tmp_path, n=10):
    src = tmp_path / "in.csv"
    src.write_text("name,postcode\r\n" + "".join(f"p{i},TT1 1AA\r\n" for i in range(n)), encoding="utf-8")
    return src


# --------------------------------------------------------------------------------------------------
# atomic writing
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fail_on", [1, 3])
@pytest.mark.parametrize("existing", [False, True])
def test_failure_mid_way_leaves_no_partial_file(ts, tmp_path, capsys, monkeypatch, fail_on, existing):
    src = caseload_file(tmp_path, 10)
    out = tmp_path / "out.csv"
    if existing:
        out.write_bytes(b"previous results\r\n")
    real = caseload.allocate_frame
    calls = {"n": 0}

    def flaky(profile, chunk, loc):
        calls["n"] += 1
        if calls["n"] == fail_on:
            raise MemoryError("simulated failure while allocating")
        return real(profile, chunk, loc)

    monkeypatch.setattr(caseload, "allocate_frame", flaky)
    code, _, err = run(["assign", *prof(ts), src, "-o", out, "--chunk-size", "3"], capsys)
    assert code == 1 and "unexpected failure (MemoryError" in err and "simulated" not in err
    assert calls["n"] == fail_on
    if existing:
        assert out.read_bytes() == b"previous results\r\n"
    else:
        assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["in.csv", "cache"] + (["out.csv"] if existing else []))


def test_interrupt_leaves_no_partial_file(ts, tmp_path, capsys, monkeypatch):
    src = caseload_file(tmp_path, 10)

    def stop(*_args):
        raise KeyboardInterrupt

    monkeypatch.setattr(caseload, "allocate_frame", stop)
    code, _, err = run(["assign", *prof(ts), src, "-o", tmp_path / "out.csv"], capsys)
    assert code == 130 and "interrupted" in err
    assert not list(tmp_path.glob("*out.csv*"))


def test_bad_row_late_in_file_leaves_no_output(ts, tmp_path, capsys):
    src = caseload_file(tmp_path, 10)
    with open(src, "a", encoding="utf-8") as fh:
        fh.write("p11,TT1 1AA,surplus\r\n")
    code, _, err = run(["assign", *prof(ts), src, "-o", tmp_path / "out.csv", "--chunk-size", "2"], capsys)
    assert code == 2 and "row 11 (line 12) has 3 cells" in err
    assert not list(tmp_path.glob("*out.csv*"))


def test_output_is_private_and_input_untouched(ts, tmp_path, capsys):
    src = caseload_file(tmp_path)
    before = src.read_bytes()
    code, _, _ = run(["assign", *prof(ts), src, "-o", tmp_path / "out.csv"], capsys)
    assert code == 0 and src.read_bytes() == before
    assert stat.S_IMODE(os.stat(tmp_path / "out.csv").st_mode) == 0o600


def test_existing_output_symlink_is_replaced_not_followed(ts, tmp_path, capsys):
    src = caseload_file(tmp_path)
    other = tmp_path / "other.csv"
    other.write_text("keep me")
    os.symlink(other, tmp_path / "out.csv")
    code, _, _ = run(["assign", *prof(ts), src, "-o", tmp_path / "out.csv"], capsys)
    assert code == 0 and other.read_text() == "keep me"
    assert not (tmp_path / "out.csv").is_symlink()


# --------------------------------------------------------------------------------------------------
# formulas neutralised in every CSV written
# --------------------------------------------------------------------------------------------------
RISKY = ["=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A2)", "\t=1", "\r=1", "=", "-", "+"]
SAFE = ["-5", "+3.2", "-1e3", "5", "", "Zoë", "a=b", " =1"]


def test_neutralise_cells():
    df = pd.DataFrame({"v": RISKY + SAFE, "n": range(len(RISKY + SAFE))})
    out = caseload.neutralise_formulas(df)
    assert out["v"].tolist() == ["'" + v for v in RISKY] + SAFE
    assert out["n"].tolist() == df["n"].tolist()
    assert [caseload.neutralise_cell(v) for v in RISKY + SAFE] == ["'" + v for v in RISKY] + SAFE


def test_csv_bytes_for_downloads():
    df = pd.DataFrame({"=col": ["=HYPERLINK(1)", "ok"], "n": [-1, 2], "c": pd.Categorical(["@x", "y"])})
    rows = list(csv.reader(io.StringIO(caseload.csv_bytes(df).decode("utf-8-sig"), newline="")))
    assert rows == [["'=col", "n", "c"], ["'=HYPERLINK(1)", "-1", "'@x"], ["ok", "2", "y"]]


def test_links_outputs_neutralised(tmp_path, capsys):
    d = tmp_path / "evil"
    write_test_data(d)
    roll = (d / "school_roll.csv").read_text(encoding="utf-8").replace("St Test RC Academy", "=EVIL()")
    (d / "school_roll.csv").write_text(roll, encoding="utf-8")
    code, _, err = run(["links", *prof(d), "-o", tmp_path / "cw.csv"], capsys)
    assert code == 0, err
    assert "'=EVIL()" in (tmp_path / "cw.csv").read_text(encoding="utf-8")
    enrol = tmp_path / "enrol.csv"
    enrol.write_text('school,postcode,consent,name\r\n8000009,TT1 1AA,yes,"@SUM(1)"\r\n', encoding="utf-8")
    code, _, err = run(["links", *prof(d), "--enrolments", enrol, "-o", tmp_path / "l.csv", "--detail-output",
                        tmp_path / "det.csv"], capsys)
    assert code == 0, err
    links = list(csv.reader(io.StringIO((tmp_path / "l.csv").read_text(encoding="utf-8-sig"))))
    det = list(csv.DictReader(io.StringIO((tmp_path / "det.csv").read_text(encoding="utf-8-sig"))))
    assert links[1][0] == "'=EVIL()"
    assert det[0]["name"] == "'@SUM(1)" and det[0]["link_school"] == "'=EVIL()"


# --------------------------------------------------------------------------------------------------
# the derived-data cache
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "wrong-digest", "a-pickle"])
def test_corrupt_cache_is_rebuilt(ts, cache_dir, caplog, damage):
    import pickle

    from heart_geo import _cache
    from heart_geo.profiles import load_profile

    cache = cache_dir
    p1 = load_profile(ts / "testshire.toml", data_dir=ts)
    [entry] = list(cache.glob("*.hgc"))
    good = entry.read_bytes()
    if damage == "wrong-digest":
        _cache.save(entry, {"_digest": "someone else's", "x": 1})
    else:
        entry.write_bytes({"garbage": b"PK\x03\x04not a zip at all", "truncated": good[: len(good) // 2],
                           "empty": b"", "a-pickle": pickle.dumps({"_digest": "x"})}[damage])
    p2 = load_profile(ts / "testshire.toml", data_dir=ts)
    assert "unreadable" in caplog.text and "rebuilding" in caplog.text
    pd.testing.assert_frame_equal(p1.allocate(["TT1 1AA", "TT1 1AD"]), p2.allocate(["TT1 1AA", "TT1 1AD"]))
    assert entry.read_bytes() == good and len(list(cache.iterdir())) == 1
    p3 = load_profile(ts / "testshire.toml", data_dir=ts)  # and the rebuilt file is good
    assert p3.lookup("TT1 1AA")["team"] == "North"


def test_corrupt_cache_through_the_cli(ts, tmp_path, capsys):
    cache = tmp_path / "cache"
    code, _, _ = run(["lookup", *prof(ts), "TT1 1AA"], capsys)
    [entry] = list(cache.glob("*.hgc"))
    entry.write_bytes(entry.read_bytes()[:100])
    code, out, err = run(["lookup", *prof(ts), "TT1 1AA"], capsys)
    assert code == 0 and "North" in out and "rebuilding" in err


# --------------------------------------------------------------------------------------------------
# everyday behaviour
# --------------------------------------------------------------------------------------------------
def test_assign_summary_progress_and_quiet(ts, tmp_path, capsys):
    src = caseload_file(tmp_path, 5)
    code, out, err = run(["assign", *prof(ts), src, "-o", tmp_path / "o.csv", "--progress"], capsys)
    assert code == 0 and out == ""
    assert "allocating" in err and "Allocated 5 rows" in err and "North" in err
    code, out, err = run(["assign", *prof(ts), src, "-o", tmp_path / "o.csv", "-q", "--progress"], capsys)
    assert code == 0 and out == "" and err == ""


def test_header_only_gives_header_and_note(ts, tmp_path, capsys):
    src = tmp_path / "in.csv"
    src.write_text("name,postcode\r\n")
    code, _, err = run(["assign", *prof(ts), src, "-o", tmp_path / "o.csv"], capsys)
    assert code == 0 and "Allocated 0 rows" in err and "note: the file has a header but no rows" in err
    assert (tmp_path / "o.csv").read_text(encoding="utf-8-sig").splitlines() == [
        "name,postcode,team,status,method,catchment_school,distance_m,near_boundary,postcode_heart_geo,"
        "easting,northing,detail,likely_team,split_teams"]


def test_lookup_text_and_json(ts, capsys):
    code, out, _ = run(["lookup", *prof(ts), "tt1 1aa"], capsys)
    assert code == 0 and out.startswith("tt1 1aa: North (allocated)")
    code, out, _ = run(["lookup", *prof(ts), "--json", "TT1 1AD"], capsys)
    row = json.loads(out)
    assert code == 0 and row["team"] == "East" and row["status"] == "nearest_team" and row["distance_m"] == 300.0
    code, out, _ = run(["lookup", *prof(ts), "--json", "TT9 9ZZ"], capsys)
    assert code == 0 and json.loads(out)["team"] is None


def test_lookup_negative_coordinates_are_a_query(ts, capsys):
    code, out, _err = run(["lookup", *prof(ts), "-4.26,55.45"], capsys)
    assert code == 2 and "invalid_coordinates" in out and "swapped" in out  # an answer, not an error


def test_allocate_caseload_to_file_like(testshire):
    buf = io.StringIO()
    s = caseload.allocate_caseload(testshire, b"postcode\r\nTT1 1AB\r\n", buf)
    assert s["rows"] == 1 and s["team"] == {"East": 1} and "East" in buf.getvalue()


def test_read_caseload_frame_dedupes(tmp_path):
    src = tmp_path / "e.csv"
    src.write_bytes(b"a,b,a,a.1\r\n1,2,3,4\r\n")
    df = caseload.read_caseload_frame(src)
    assert df.columns.is_unique and df.iloc[0].tolist() == ["1", "2", "3", "4"]


def test_global_options_before_the_subcommand_are_kept(capsys, tmp_path):
    """Regression: `heart-geo --profile X lookup ...` used to fall back to the default profile."""
    from heart_geo.cli import main
    from heart_geo.testing import write_test_data

    toml = write_test_data(tmp_path)
    for argv in (["--profile", str(toml), "--data-dir", str(tmp_path), "lookup", "TT1 1AA"],
                 ["lookup", "TT1 1AA", "--profile", str(toml), "--data-dir", str(tmp_path)]):
        assert main(argv) == 0
        assert "North (allocated)" in capsys.readouterr().out
