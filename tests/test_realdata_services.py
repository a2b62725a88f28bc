"""Services present in each team on the official datasets (HEART_GEO_DATA), whatever release is
present: every service with a postcode gets its postcode's team, and no childminder's name, e-mail
or phone, and no children's house's name or location, reaches any output, page, map or log.

No counts from one release are pinned: the expectations are computed from the raw files here,
independently of the library's readers.
"""

from __future__ import annotations

import csv
import json
import logging
import re

import pandas as pd
import pytest
import shapely

from heart_geo import explore
from heart_geo import services as sv
from heart_geo.cli import main
from heart_geo.postcodes import normalise_postcode

pytestmark = pytest.mark.realdata


def _raw(profile, key: str) -> pd.DataFrame:
    files = profile.files.get(key) or []
    if not files:
        pytest.skip(f"no {key} files in the data folder")
    frames = []
    for f in files:
        try:
            frames.append(pd.read_csv(f, dtype=str, keep_default_na=False, encoding="utf-8-sig"))
        except UnicodeDecodeError:
            frames.append(pd.read_csv(f, dtype=str, keep_default_na=False, encoding="cp1252"))
    return pd.concat(frames, ignore_index=True)


def _raw_care(profile) -> pd.DataFrame:
    df = _raw(profile, "care_services")
    return df[(df["Council_Area_Name"] == profile.name) & (df["ServiceStatus"] == "Active")]


def _is_childrens_house(df):
    return (df["CareService"] == "Care Home Service") & df["Subtype"].str.lower().str.startswith("children")


#: The datastore's public categories, by CareService (independent of the library's table).
PUBLIC_CARE = {"Day Care of Children": "day_care_of_children", "Support Service": "support_service",
               "Housing Support Service": "housing_support", "Child Care Agency": "child_care_agency",
               "School Care Accommodation Service": "residential_special_school"}


def test_every_east_ayrshire_service_with_a_postcode_gets_its_postcodes_team(east):
    """Against the postcode table (not the allocator's postcode path) and the team polygons."""
    loc = sv.service_locations(east)
    table = east.postcode_allocations().drop_duplicates("postcode").set_index("postcode")
    raw = _raw_care(east)
    kinds = list(east.sources["care_services"].kinds) or list(sv.SERVICE_KINDS)
    want = []
    for _, r in raw.iterrows():
        kind = PUBLIC_CARE.get(r["CareService"])
        pc = normalise_postcode(r["Service_Postcode"])
        if kind is None or kind not in kinds or pc is None:
            continue
        team = table.loc[pc, "team"] if pc in table.index else None
        want.append((r["ServiceName"].strip(), pc, team if isinstance(team, str) else None))
    assert want, "no East Ayrshire service with a postcode in the data"
    got = loc[(loc["dataset"] == "care_services") & (loc["publish"] == "public") & loc["postcode"].notna()]
    got = list(zip(got["service_name"], got["postcode"], got["team"].where(got["team"].notna(), None), strict=True))
    assert sorted(got, key=str) == sorted(want, key=str)
    assert sum(t is not None for _, _, t in want) >= 0.9 * len(want)  # nearly all postcodes are known
    # rows whose postcode is not in the postcode data get an explicit status, never a team
    unknown = loc[(loc["dataset"] == "care_services") & loc["postcode"].notna() & ~loc["postcode"].isin(table.index)]
    assert unknown["team"].isna().all()
    assert set(unknown["status"]) <= {"unknown_postcode", "outside_area"}
    # allocated services stand inside their team's area (independent geometric check)
    areas = dict(zip(east.team_areas["team"], east.team_areas.geometry, strict=True))
    alloc = loc[(loc["status"] == "allocated") & (loc["publish"] == "public")]
    assert len(alloc) > 0
    for r in alloc.itertuples():
        assert shapely.intersects_xy(areas[r.team].buffer(0.01), r.easting, r.northing), r.team


def test_counted_services_keep_their_postcodes_team(east):
    """Fostering and adoption services are counted in their postcode's team, never named."""
    raw = _raw_care(east)
    table = east.postcode_allocations().drop_duplicates("postcode").set_index("postcode")
    fa = raw[raw["CareService"].isin(["Fostering Service", "Adoption Service"])]
    want: dict = {}
    for _, r in fa.iterrows():
        pc = normalise_postcode(r["Service_Postcode"]) if r["Service_Postcode"].strip() else None
        team = table.loc[pc, "team"] if pc is not None and pc in table.index else None
        key = (sv.service_kind("fostering" if r["CareService"].startswith("Fostering") else "adoption").label,
               team if isinstance(team, str) else sv.NOT_PLACED)
        want[key] = want.get(key, 0) + 1
    counts = sv.service_counts(east)
    for (label, team), n in want.items():
        assert counts.loc[team, label] == n


def test_hospitals_placed_by_their_coordinates(east):
    raw = _raw(east, "hospitals")
    raw = raw[raw["CA"] == east.code]
    loc = sv.service_locations(east)
    h = loc[loc["kind"] == "hospital"].set_index("service_name")
    assert len(h) == len(raw)
    areas = dict(zip(east.team_areas["team"], east.team_areas.geometry, strict=True))
    for _, r in raw.iterrows():
        x, y = float(r["XCoordinate"]), float(r["YCoordinate"])
        inside = [t for t, g in areas.items() if shapely.intersects_xy(g, x, y)]
        got = h.loc[r["LocationName"].strip()]
        assert (got["easting"], got["northing"]) == (x, y)
        if inside:
            assert got["team"] == inside[0]


def test_every_service_row_of_the_council_is_kept_with_a_status(east, north):
    for p in (east, north):
        loc = sv.service_locations(p)
        raw = _raw_care(p)
        kinds = list(p.sources["care_services"].kinds) or None
        n_ci = (loc["dataset"] == "care_services").sum()
        assert n_ci <= len(raw)
        assert loc["status"].notna().all()
        assert set(loc["status"]) <= {"allocated", "nearest_team", "outside_area", "unknown_postcode",
                                      "terminated_postcode", "missing_location"}
        cm = (raw["CareService"] == "Child Minding").sum()
        if kinds is None or "childminder" in kinds:
            assert (loc["kind"] == "childminder").sum() == cm
        counts = sv.service_counts(p)
        assert counts["total"].sum() == len(loc)
        assert counts.index[: len(p.team_names)].tolist() == p.team_names


# --------------------------------------------------------------------------------------------------
# privacy and safeguarding on the real data
# --------------------------------------------------------------------------------------------------
def _secrets(profiles) -> list[str]:
    """Childminders' names, e-mails, phones, managers and postcodes; children's houses' names,
    addresses and postcodes; fostering and adoption addresses. Values that are also a published
    service's name, provider or postcode (a council office shared with its day services) are left out:
    they appear because of that service, not this one."""
    out: set[str] = set()
    public: set[str] = set()
    for p in profiles:
        raw = _raw(p, "care_services")
        cm = raw[raw["CareService"] == "Child Minding"]
        ch = raw[_is_childrens_house(raw)]
        fa = raw[raw["CareService"].isin(["Fostering Service", "Adoption Service"])]
        addr = ["Address_line_1", "Address_line_2", "Address_line_3", "Address_line_4"]
        for frame, cols in (
            (cm, ["ServiceName", "ServiceProvider", "Manager_Name", "Service_Phone_Number", "Eforms_email_address",
                  "Service_Postcode", *addr]),
            (ch, ["ServiceName", "Service_Postcode", "Manager_Name", "Service_Phone_Number", "Eforms_email_address",
                  *addr]),
            (fa, [*addr, "Service_Postcode"]),
        ):
            for c in cols:
                out |= {v.strip() for v in frame[c] if v.strip()}
        loc = sv.service_locations(p)
        pub = loc[loc["publish"] == "public"]
        public |= {str(v) for c in ("service_name", "provider", "postcode") for v in pub[c].dropna()}
    return sorted(s for s in out if s not in public and len(s) >= 4)


def _leaks(texts: list[str], secrets: list[str]) -> list[str]:
    blob = "\n".join(texts)
    blob_json = blob.encode("ascii", "backslashreplace").decode()  # JSON-escaped non-ASCII in map pages
    found = []
    for s in secrets:
        pat = re.compile(r"(?<![A-Za-z0-9])" + re.escape(s) + r"(?![A-Za-z0-9])")
        pat_json = re.compile(r"(?<![A-Za-z0-9])" + re.escape(s.encode("ascii", "backslashreplace").decode())
                              + r"(?![A-Za-z0-9])")
        if pat.search(blob) or pat_json.search(blob_json):
            found.append(f"{len(s)}-character value")  # never print the value itself
    return found


@pytest.mark.slow
def test_no_childminder_or_childrens_house_detail_in_any_output(east, north, data_dir, tmp_path, capsys, caplog):
    secrets = _secrets([east, north])
    assert len(secrets) > 100, "the data should hold childminders' and children's houses' details"
    caplog.set_level(logging.DEBUG, logger="heart_geo")
    texts: list[str] = []
    for p in (east, north):
        base = ["-vv", "--profile", p.key, "--data-dir", str(data_dir)]
        dest = tmp_path / f"{p.key}_services.csv"
        for args in (["services"], ["services", "--json"], ["services", "--locations"],
                     ["services", "--locations", "--json"], ["services", "--locations", "-o", str(dest)],
                     ["teams"], ["teams", "--json"]):
            code = main([*args, *base])
            out, err = capsys.readouterr()
            assert code == 0, err
            texts += [out, err]
        texts.append(dest.read_text(encoding="utf-8"))
        rows = list(csv.DictReader(dest.open(encoding="utf-8-sig")))  # BOM (issue 12)
        assert list(rows[0]) == sv.EXPORT_COLUMNS
        assert not {r["service_kind"] for r in rows} & {sv.service_kind(k).label for k in
                                                         ("childminder", "childrens_house", "fostering", "adoption")}
        # the map: first view and a highlighted team with a looked-up point; the answers
        texts.append(explore.coverage_map(p).get_root().render())
        first = p.postcode_allocations()
        first = first[first["status"] == "allocated"].groupby("team", observed=True).head(1)
        for team, pc in zip(first["team"], first["postcode"], strict=True):
            a = explore.lookup_answer(p, pc)
            assert a["community"] is not None and a["team"] == team
            texts.append(json.dumps(a, default=str, ensure_ascii=False))
        a = explore.lookup_answer(p, first["postcode"].iloc[0])
        texts.append(explore.coverage_map(p, highlight_team=a["team"], point=a["latlon"],
                                          point_label=a["query"]).get_root().render())
        texts.append(json.dumps(explore.team_details(p), default=str, ensure_ascii=False))
        texts.append(explore.service_counts_table(p).to_csv())
        texts.append(sv.service_locations(p).to_csv())
    assert any(r.levelno == logging.DEBUG for r in caplog.records), "no DEBUG record: proves nothing"
    texts.append(caplog.text)
    texts += [r.getMessage() for r in caplog.records]
    leaks = _leaks(texts, secrets)
    assert not leaks, f"{len(leaks)} private values leaked: {leaks[:5]}"
    # the check can fail: the same outputs do carry the published services' names
    loc = sv.service_locations(east)
    named = loc.loc[loc["publish"] == "public", "service_name"].dropna()
    assert named.iloc[0] in "\n".join(texts)


def test_map_payload_within_budget(east):
    size = explore.map_payload_bytes(east)
    assert size < 1_000_000, size
    html = explore.coverage_map(east).get_root().render()
    assert "Services: Day care of children" in html
