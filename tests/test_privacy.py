"""Personal data never reaches a log line, stderr, or an error message.

A run of hostile caseloads and enrolment lists at the highest verbosity (``-vv``) with every
``heart_geo`` log record captured at DEBUG: none of the names, postcodes or addresses from the input
may appear anywhere but in the output files the user asked for.
"""

from __future__ import annotations

import codecs
import logging
import os
import subprocess
import sys

import pytest

from heart_geo import caseload
from heart_geo.cli import main
from heart_geo.errors import InputError

NAMES = ["Zoë Ó'Brien", "Bartholomew Quigley-Smythe", "Siobhán Nic Amhlaoibh"]
ADDRESSES = ["17 Rosebank Crescent", "Flat 3/2, 88 Glenview Terrace"]
POSTCODES = ["TT1 1AB", "TT1 1AC", "TT9 9ZZ"]  # typed by families; the last one unknown
OTHER = ["DOB 2014-03-09", "CHI 0903141234"]
PERSONAL = NAMES + ADDRESSES + POSTCODES + OTHER + ["Rosebank", "Quigley", "Glenview", "0903141234"]


def _row(i: int) -> str:
    return (f'"{NAMES[i % 3]}","{ADDRESSES[i % 2]}, Testtown {POSTCODES[i % 3]}","{POSTCODES[i % 3]}",'
            f'"{OTHER[i % 2]}"')


GOOD = "name,address,postcode,notes\r\n" + "\r\n".join(_row(i) for i in range(6)) + "\r\n"

HOSTILE = {
    "fine-bom-formulas": codecs.BOM_UTF8 + (GOOD + f'"=HYPERLINK(""{NAMES[0]}"")",,"{POSTCODES[0]}",\r\n'
                                            ).encode("utf-8"),
    "fine-cp1252": GOOD.encode("cp1252"),
    "headerless": "\r\n".join(_row(i) for i in range(3)).encode("utf-8"),
    "no-location-column": f"name,notes\r\n{NAMES[0]},{OTHER[0]}\r\n".encode(),
    "extra-cells": (GOOD + f'"{NAMES[1]}",x,"{POSTCODES[1]}",y,"{ADDRESSES[0]}"\r\n').encode("utf-8"),
    "unclosed-quote": (GOOD + f'"{NAMES[2]},{ADDRESSES[1]}\r\n{POSTCODES[2]}\r\n').encode("utf-8"),
    "names-in-header-position": f"{NAMES[0]},{POSTCODES[0]}\r\n{NAMES[1]},{POSTCODES[1]}\r\n".encode(),
    "nul-header": f"{NAMES[0]}\x00,{POSTCODES[0]}\r\n".encode(),
}


def _assert_clean(*texts: str) -> None:
    for t in texts:
        for v in PERSONAL:
            assert v not in t, f"personal value {v!r} leaked into: {t[:300]!r}"
            assert v.lower() not in t.lower() or v.lower() in ("testtown",), v


@pytest.mark.parametrize("name", list(HOSTILE))
@pytest.mark.usefixtures("cache_dir")
def test_assign_logs_nothing_personal(name, ts, tmp_path, capsys, caplog):
    caplog.set_level(logging.DEBUG, logger="heart_geo")
    src = tmp_path / "cases.csv"
    src.write_bytes(HOSTILE[name])
    code = main(["assign", "-vv", "--progress", "--profile", str(ts / "testshire.toml"), "--data-dir", str(ts),
                 str(src), "-o", str(tmp_path / "out.csv"), "--chunk-size", "2"])
    out, err = capsys.readouterr()
    assert code == (0 if name.startswith("fine") else 2), err
    if code == 0:
        assert any(r.levelno == logging.DEBUG for r in caplog.records), "no DEBUG record: proves nothing"
    _assert_clean(out, err, caplog.text, *(r.getMessage() for r in caplog.records))
    if code == 0:  # the personal data is where the user asked for it: in the output file
        assert NAMES[0] in (tmp_path / "out.csv").read_text(encoding="utf-8")


@pytest.mark.usefixtures("cache_dir")
def test_assign_crash_message_has_no_row_content(ts, tmp_path, capsys, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG, logger="heart_geo")

    def boom(_profile, chunk, _loc):
        raise ValueError(f"could not convert {chunk.iloc[0, 0]!r} at {chunk.iloc[0, 1]!r}")

    monkeypatch.setattr(caseload, "allocate_frame", boom)
    src = tmp_path / "cases.csv"
    src.write_bytes(GOOD.encode())
    code = main(["assign", "-vv", "--profile", str(ts / "testshire.toml"), "--data-dir", str(ts), str(src),
                 "-o", str(tmp_path / "out.csv")])
    out, err = capsys.readouterr()
    assert code == 1
    last = err.strip().splitlines()[-1]
    assert last.startswith("heart-geo: unexpected failure (ValueError at ") and "Traceback" not in err
    _assert_clean(out, err, caplog.text)


@pytest.mark.usefixtures("cache_dir")
def test_links_logs_nothing_personal(ts, tmp_path, capsys, caplog):
    caplog.set_level(logging.DEBUG, logger="heart_geo")
    rows = [f'"{NAMES[i % 3]}",8000009,"{POSTCODES[i % 3]}","{ADDRESSES[i % 2]}",{"yes" if i % 2 else "no"},'
            for i in range(6)]
    src = tmp_path / "enrol.csv"
    src.write_bytes(("name,school,postcode,address,consent,risk_of_harm\r\n" + "\r\n".join(rows)).encode("cp1252"))
    for extra in ([], ["--json"], ["-o", str(tmp_path / "l.csv"), "--detail-output", str(tmp_path / "d.csv")],
                  ["--consent-col", "no such column"]):
        code = main(["links", "-vv", "--profile", str(ts / "testshire.toml"), "--data-dir", str(ts),
                     "--enrolments", str(src), *extra])
        out, err = capsys.readouterr()
        assert code in (0, 2)
        _assert_clean(out, err, caplog.text)
    assert NAMES[1] in (tmp_path / "d.csv").read_text(encoding="utf-8")  # consented rows, where asked


@pytest.mark.parametrize("name", [k for k in HOSTILE if not k.startswith("fine")])
def test_error_messages_name_columns_and_rows_only(name, testshire):
    with pytest.raises(InputError) as info:
        caseload.allocate_csv_bytes(testshire, HOSTILE[name])
    _assert_clean(str(info.value))


def test_python_m_heart_geo_vv_stderr_clean(ts, tmp_path):
    src = tmp_path / "cases.csv"
    src.write_bytes(HOSTILE["fine-bom-formulas"])
    env = dict(os.environ, HEART_GEO_CACHE=str(tmp_path / "cache"))
    r = subprocess.run([sys.executable, "-m", "heart_geo", "assign", "-vv", "--progress", "--profile",
                        str(ts / "testshire.toml"), "--data-dir", str(ts), str(src), "-o", str(tmp_path / "o.csv")],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "DEBUG heart_geo" in r.stderr  # it really ran at debug
    _assert_clean(r.stdout, r.stderr)
