"""Services present in each team (the official service datasets) and the publication rule, on the
made-up Testshire council: readers, location, counts, hubs, CLI, export, map and the privacy rule."""

from __future__ import annotations

import csv
import json
import logging

import pandas as pd
import pytest

from heart_geo import explore
from heart_geo import services as sv
from heart_geo._offline import assert_no_remote_assets
from heart_geo.cli import main
from heart_geo.errors import DataFormatError, ProfileError
from heart_geo.sources import SERVICE_COLUMNS, read_care_services, read_gp_practices, read_hospitals
from heart_geo.testing import CARE_SERVICES_SECRETS, PROFILE_TOML, write_test_data

PUBLIC_NAMES = ["Testtown Early Years Centre", "Gap Ring Playgroup", "Testshire Day Opportunities",
                "Testshire Care Home", "Testshire General Hospital", "Testtown Medical Practice", "Border Surgery"]


@pytest.fixture(scope="module")
def prof(ts):
    from heart_geo import load_profile

    return load_profile(ts / "testshire.toml", data_dir=ts, cache=False)


def _by_name(loc: pd.DataFrame) -> dict:
    return {r["service_name"]: r for r in loc.to_dict("records") if r["service_name"]}


# --------------------------------------------------------------------------------------------------
# readers
# --------------------------------------------------------------------------------------------------
def test_care_inspectorate_reader_cp1252_kinds_and_council(ts):
    f = next(ts.glob("care_inspectorate_datastore_*.csv"))
    raw = f.read_bytes()
    assert b"\x92" in raw  # Windows-1252 curly apostrophe, as the Care Inspectorate publishes
    df = read_care_services(f, council="testshire")
    assert list(df.columns) == SERVICE_COLUMNS
    assert "Elsewhere Housing Support" not in set(df["service_name"])  # another council's row
    kinds = dict(zip(df["service_name"], df["kind"], strict=True))
    assert kinds["Testtown Early Years Centre"] == "day_care_of_children"
    assert kinds["Rowan Test House"] == "childrens_house"
    assert kinds["Testshire Council Fostering Service"] == "fostering"
    assert kinds["Testshire Care Home"] == "care_home_adults"
    assert kinds["Unreviewed Category Service"] == "other_care_service"
    assert df.loc[df["service_name"] == "Closed Nursery", "active"].tolist() == [False]
    # contact details and address lines are never read
    text = df.to_csv()
    for secret in ("07700 900123", "morag.testperson@example.invalid", "7 Private Close", "Rita Carer"):
        assert secret not in text
    # the same file in UTF-8 reads the same
    utf8 = ts / "utf8" / "care_inspectorate_datastore_utf8.csv"
    utf8.parent.mkdir(exist_ok=True)
    utf8.write_text(raw.decode("cp1252"), encoding="utf-8")
    pd.testing.assert_frame_equal(read_care_services(utf8, council="Testshire").drop(columns="source"),
                                  df.drop(columns="source"))


def test_hospital_and_gp_readers(ts):
    h = read_hospitals(next(ts.glob("current-hospital_*.csv")), council="S99000001")
    assert h["service_name"].tolist() == ["Testshire General Hospital"]
    assert (h["x"].iloc[0], h["y"].iloc[0]) == (301600.0, 601400.0)
    g = read_gp_practices(next(ts.glob("gp_practices_*.csv")), council="Testshire")
    assert g["service_name"].tolist() == ["Testtown Medical Practice", "Border Surgery"]
    assert set(g["kind"]) == {"gp_practice"}
    # PHS's own "GP Practice Contact Details" column names read too
    phs = ts / "phs_gp.csv"
    phs.write_text("PracticeCode,GPPracticeName,AddressLine1,Postcode,TelephoneNumber,HB\n"
                   "99003,Phs Format Practice,1 Road,TT1 1AB,01000 1,S08000099\n", encoding="utf-8")
    assert read_gp_practices(phs)["service_name"].tolist() == ["Phs Format Practice"]


def test_reader_errors_name_columns_only(tmp_path):
    bad = tmp_path / "care_inspectorate_datastore_bad.csv"
    bad.write_text("CSNumber,ServiceName,Secret Person\nCS1,Jo Private,07700 900999\n", encoding="utf-8")
    with pytest.raises(DataFormatError) as info:
        read_care_services(bad)
    msg = str(info.value)
    assert "care_service" in msg and "CareService" in msg.replace("careservice", "CareService")
    assert "Jo Private" not in msg and "07700" not in msg


# --------------------------------------------------------------------------------------------------
# location, statuses and the publication rule
# --------------------------------------------------------------------------------------------------
def test_every_row_located_with_the_allocators_statuses(prof):
    loc = sv.service_locations(prof)
    assert list(loc.columns) == sv.LOCATION_COLUMNS
    named = _by_name(loc)
    expect = {
        "Testtown Early Years Centre": ("North", "allocated"),
        "Acorns & <b>Oaks</b> Club": ("East", "allocated"),
        "Gap Ring Playgroup": ("North", "nearest_team"),
        "Testshire Day Opportunities": (None, "unknown_postcode"),
        "Testshire Care Home": ("East", "allocated"),
        "Testshire General Hospital": ("East", "allocated"),  # by its coordinates, not its postcode (South)
        "Testtown Medical Practice": ("South", "allocated"),
        "Border Surgery": (None, "outside_area"),
    }
    assert {k: (v["team"], v["status"]) for k, v in named.items()} == expect
    assert named["Acorns & <b>Oaks</b> Club"]["postcode"] == "TT1 1AB"  # normalised
    # inactive and other-council rows are left out; every other row is kept with a status
    assert len(loc) == 14
    # the same answers as the allocator gives the postcodes directly
    for name, r in named.items():
        if r["dataset"] != "hospitals" and r["postcode"]:
            direct = prof.allocate([r["postcode"]]).iloc[0]
            assert (direct["team"] if isinstance(direct["team"], str) else None, direct["status"]) == \
                (r["team"], r["status"]), name


def test_publication_rule_hides_count_only_kinds(prof):
    for kind in ("childminder", "childrens_house", "fostering", "adoption", "other_care_service", "never-seen"):
        assert not sv.is_public(kind), kind
    for kind in ("day_care_of_children", "hospital", "gp_practice", "support_service"):
        assert sv.is_public(kind)
    loc = sv.service_locations(prof)
    hidden = loc[loc["publish"] == "count"]
    assert set(hidden["kind"]) == {"childminder", "childrens_house", "fostering", "other_care_service"}
    assert hidden[["service_name", "provider", "postcode"]].isna().all().all()
    assert hidden[["easting", "northing", "distance_m"]].isna().all().all()
    # the childminder with a postcode is still counted in its team (South); the one without, for the council
    cm = hidden[hidden["kind"] == "childminder"]
    assert sorted(cm["team"].fillna("-")) == ["-", "South"]
    assert sorted(cm["status"]) == ["allocated", "missing_location"]
    assert not any(s in loc.to_csv() for s in CARE_SERVICES_SECRETS)


def test_counts_by_kind_per_team(prof):
    c = sv.service_counts(prof)
    assert c.index.tolist() == ["North", "East", "South", sv.NOT_PLACED, sv.OUTSIDE]
    assert c.loc["North", "Day care of children"] == 2
    assert c.loc["North", "Children's house (care home for children)"] == 1
    assert c.loc["South", "Childminder"] == 1
    assert c.loc[sv.NOT_PLACED, "Childminder"] == 1
    assert c.loc[sv.NOT_PLACED, "Children's house (care home for children)"] == 1
    assert c.loc[sv.OUTSIDE, "GP practice"] == 1
    assert (c["total"] == c.drop(columns="total").sum(axis=1)).all()
    assert c["total"].sum() == len(sv.service_locations(prof))
    s = prof.team_summary().set_index("team")
    assert s.loc["East", "services_present"] == c.loc["East", "total"] == 4
    assert "Hospitals 1" in s.loc["East", "services_by_kind"]


def test_kinds_filter_and_active_only_in_profile(tmp_path):
    toml = write_test_data(tmp_path)
    text = toml.read_text().replace('kind = "care_services"\n',
                                    'kind = "care_services"\nkinds = ["day_care_of_children"]\nactive_only = false\n')
    toml.write_text(text)
    from heart_geo import load_profile

    p = load_profile(toml, data_dir=tmp_path, cache=False)
    loc = sv.service_locations(p)
    ci = loc[loc["dataset"] == "care_services"]
    assert set(ci["kind"]) == {"day_care_of_children"}
    assert "Closed Nursery" in set(ci["service_name"])


def test_located_by_none_counts_for_the_council(tmp_path):
    toml = write_test_data(tmp_path)
    text = toml.read_text().replace('kind = "gp_practices"\nlocated_by = "postcode"',
                                    'kind = "gp_practices"\nlocated_by = "none"')
    toml.write_text(text)
    from heart_geo import load_profile

    p = load_profile(toml, data_dir=tmp_path, cache=False)
    gp = sv.service_locations(p).query("dataset == 'gp_practices'")
    assert len(gp) == 2 and (gp["status"] == "missing_location").all() and gp["team"].isna().all()
    assert sv.service_counts(p).loc[sv.NOT_PLACED, "GP practice"] == 2


def test_unreadable_service_file_is_left_out_and_reported(tmp_path, capsys):
    toml = write_test_data(tmp_path)
    bad = next(tmp_path.glob("gp_practices_*.csv"))
    bad.write_text("Practice,Where\n1,Somewhere Private\n", encoding="utf-8")
    from heart_geo import load_profile

    p = load_profile(toml, data_dir=tmp_path, cache=False)
    loc = sv.service_locations(p)
    assert "gp_practices" not in set(loc["dataset"]) and "care_services" in set(loc["dataset"])
    (problem,) = sv.service_problems(p)
    assert "gp_practices" in problem and "post code" in problem and "Somewhere Private" not in problem
    assert problem in explore.data_notes(p)["problems"]
    assert main(["teams", "--profile", str(toml), "--data-dir", str(tmp_path)]) == 0
    assert main(["services", "--profile", str(toml), "--data-dir", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "gp_practices" in err and "Somewhere Private" not in err


# --------------------------------------------------------------------------------------------------
# hubs and profile validation
# --------------------------------------------------------------------------------------------------
def test_hubs_located(prof):
    h = sv.team_hubs(prof)
    assert h[["team", "name", "status", "located_team"]].values.tolist() == [
        ["North", "North Hub", "allocated", "North"], ["East", "East Base", "allocated", "East"]]
    assert sv.services_present(prof, "North")["hubs"] == [
        {"name": "North Hub", "postcode": "TT1 1AA", "located_team": "North"}]
    assert sv.services_present(prof, "South")["hubs"] == []


@pytest.mark.parametrize(("old", "new", "message"), [
    ('hubs = [{ name = "North Hub", postcode = "TT1 1AA" }]', 'hubs = [{ postcode = "TT1 1AA" }]', "needs a name"),
    ('hubs = [{ name = "North Hub", postcode = "TT1 1AA" }]', 'hubs = [{ name = "H", postcode = "nowhere" }]',
     "is not a postcode"),
    ('hubs = [{ name = "North Hub", postcode = "TT1 1AA" }]',
     'hubs = [{ name = "H", postcode = "TT1 1AA", easting = 1, northing = 2 }]', "not both"),
    ('hubs = [{ name = "North Hub", postcode = "TT1 1AA" }]', 'hubs = [{ name = "H", postcode = "TT1 1AA", x = 1 }]',
     "unknown keys ['x']"),
    ('hubs = [{ name = "North Hub", postcode = "TT1 1AA" }]', 'hubs = "TT1 1AA"', "must be a list"),
    ('kind = "hospitals"', 'kind = "clinics"', "kind 'clinics'"),
    ('located_by = "coordinates"', 'located_by = "address"', "located_by 'address'"),
])
def test_profile_checks_hubs_and_service_sources(tmp_path, old, new, message):
    write_test_data(tmp_path)
    assert old in PROFILE_TOML
    toml = tmp_path / "bad.toml"
    toml.write_text(PROFILE_TOML.replace(old, new, 1), encoding="utf-8")
    from heart_geo import load_profile

    with pytest.raises(ProfileError, match=None) as info:
        load_profile(toml, data_dir=tmp_path, cache=False)
    assert message in str(info.value)


def test_no_service_files_means_no_services(tmp_path):
    toml = write_test_data(tmp_path)
    for f in [*tmp_path.glob("care_inspectorate_*"), *tmp_path.glob("current-hospital_*"),
              *tmp_path.glob("gp_practices_*")]:
        f.unlink()
    from heart_geo import load_profile

    p = load_profile(toml, data_dir=tmp_path, cache=False)
    assert sv.service_locations(p).empty
    assert sv.service_counts(p)["total"].sum() == 0
    html = explore.coverage_map(p).get_root().render()
    assert "Services: " not in html and "Team hubs / bases" in html  # hubs come from the profile
    assert main(["services", "--profile", str(toml), "--data-dir", str(tmp_path)]) == 0


# --------------------------------------------------------------------------------------------------
# dashboard building blocks
# --------------------------------------------------------------------------------------------------
def test_in_this_community_nearest_first(prof):
    a = explore.lookup_answer(prof, "tt1 1aa")
    c = a["community"]
    assert [(x["name"], x["distance_m"]) for x in c["listed"]] == [
        ("Testtown Early Years Centre", 0.0), ("Gap Ring Playgroup", 800.0)]
    assert c["counted"] == {"Children's houses": 1, "Other registered care services": 1}
    assert c["council_only"] == {"Childminders": 1, "Children's houses": 1}
    assert c["hubs"][0]["name"] == "North Hub"
    assert explore.lookup_answer(prof, "TT2 9ZZ")["community"] is None  # no team, no community


def test_map_has_service_layers_escaped_and_offline(prof):
    m = explore.coverage_map(prof, highlight_team="North")
    html = m.get_root().render()
    assert_no_remote_assets(html)
    for layer in ("Services: Day care of children", "Services: Hospitals", "Services: GP practices",
                  "Team hubs / bases"):
        assert layer in html, layer
    # escaped for the popup's innerHTML (then JSON-escaped by folium): shown as text, never run as HTML
    assert "Acorns \\u0026amp; \\u0026lt;b\\u0026gt;Oaks\\u0026lt;/b\\u0026gt; Club" in html
    assert "<b>Oaks</b>" not in html and "\\u003cb\\u003eOaks" not in html
    for secret in CARE_SERVICES_SECRETS:
        assert secret not in html, secret
    assert "Border Surgery" not in html  # outside the council: not drawn
    assert explore.map_payload_bytes(prof) < 1_000_000


def test_team_details_and_counts_table(prof):
    d = {x["team"]: x for x in explore.team_details(prof)}
    assert d["South"]["services_by_kind"] == {"Childminder": 1, "GP practice": 1}
    assert [x["name"] for x in d["South"]["services_listed"]] == ["Testtown Medical Practice"]
    assert d["North"]["hubs"][0]["name"] == "North Hub"
    t = explore.service_counts_table(prof)
    assert t["team"].tolist()[:3] == ["North", "East", "South"]
    assert "Childminders" in t.columns and "Services present" in t.columns


# --------------------------------------------------------------------------------------------------
# CLI, export, and nothing private anywhere
# --------------------------------------------------------------------------------------------------
def _run(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.usefixtures("cache_dir")
def test_cli_services_and_locations_export(ts, tmp_path, capsys, caplog):
    caplog.set_level(logging.DEBUG, logger="heart_geo")
    base = ["-vv", "--profile", str(ts / "testshire.toml"), "--data-dir", str(ts)]
    seen = []
    code, out, err = _run(["services", *base], capsys)
    assert code == 0, err
    assert "North Hub (TT1 1AA)" in out and "none recorded in the profile" in out  # South has no hub
    assert "Testtown Early Years Centre" in out
    assert "Children's houses (1): counted only, not named" in out
    assert "Counted for the council only" in out
    seen += [out, err]
    code, out, err = _run(["services", "--json", *base], capsys)
    doc = json.loads(out, parse_constant=lambda c: pytest.fail(f"not JSON: {c}"))
    gap = next(x for x in doc["listed"]["North"] if x["name"] == "Gap Ring Playgroup")
    assert gap["provider"] is None  # blank in the data: null, never NaN
    assert doc["services_present"]["South"] == {"Childminder": 1, "GP practice": 1, "total": 2}
    seen += [out, err]
    dest = tmp_path / "services.csv"
    code, out, err = _run(["services", "--locations", "-o", str(dest), *base], capsys)
    assert code == 0, err
    rows = list(csv.DictReader(dest.open(encoding="utf-8-sig")))  # BOM (issue 12)
    assert list(rows[0]) == sv.EXPORT_COLUMNS
    assert sorted(r["service_name"] for r in rows) == sorted([*PUBLIC_NAMES, "Acorns & <b>Oaks</b> Club"])
    assert "Counted only, never listed or exported" in err and "Childminders 2" in err
    seen += [out, err, dest.read_text(encoding="utf-8")]
    code, out, err = _run(["services", "--locations", "--json", *base], capsys)
    assert len(json.loads(out)) == len(rows)
    seen += [out, err]
    for extra in ([], ["--json"]):
        code, out, err = _run(["teams", *extra, *base], capsys)
        assert code == 0
        seen += [out, err]
    assert any(r.levelno == logging.DEBUG for r in caplog.records)
    seen.append(caplog.text)
    for text in seen:
        for secret in CARE_SERVICES_SECRETS:
            assert secret not in text, secret
    code, out, err = _run(["services", "-o", str(tmp_path / "x.csv"), *base], capsys)
    assert code == 2 and "needs --locations" in err
