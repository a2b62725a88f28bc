"""A small made-up council, written in the official file formats, for tests and examples.

"Testshire" (GSS code S99000001) has four 1 km square catchments around (300000, 600000) in
EPSG:27700, inside a council outline 500 m larger on every side (so there is a gap ring)::

    +-----------+-----------+
    |  A North  |  B East   |     A is a MultiPolygon of two touching halves (needs repair)
    |  8000001  |  8000002  |
    +-----------+-----------+
    |  C South  |  D other  |     D belongs to no team (served from a neighbouring council)
    |  8000003  |  (none)   |
    +-----------+-----------+

Postcodes (Code-Point Open format, no header, quoted): one in each square, one in the gap, one on
the A/C edge, one near an edge, one outside the council, one with no grid reference. Services: a
made-up Care Inspectorate datastore (:data:`CARE_SERVICES`: childminders, children's houses,
fostering, day care...), PHS-format hospitals and GP practices; two team hubs.
Everything is generated here; nothing comes from the real datasets.
"""

from __future__ import annotations

import csv
import json
import tempfile
from pathlib import Path

import geopandas as gpd
import shapely

X0, Y0 = 300_000.0, 600_000.0
CODE = "S99000001"

#: postcode -> (easting, northing, council code, what it tests)
POSTCODES = {
    "TT1 1AA": (X0 + 500, Y0 + 1500, CODE, "inside A (North)"),
    "TT1 1AB": (X0 + 1500, Y0 + 1500, CODE, "inside B (East)"),
    "TT1 1AC": (X0 + 500, Y0 + 500, CODE, "inside C (South)"),
    "TT1 1AD": (X0 + 1500, Y0 + 700, CODE, "inside D (no team): nearest_team East, 300 m"),
    "TT1 1AE": (X0 - 300, Y0 + 1500, CODE, "in the gap west of A: nearest_team North, 300 m"),
    "TT1 1AH": (X0 + 500, Y0 + 1000, CODE, "on the A/C edge: North (listed first)"),
    "TT1 1AJ": (X0 + 950, Y0 + 1500, CODE, "inside A, 50 m from B: near_boundary"),
    "TT2 9ZZ": (X0 + 5000, Y0 + 5000, "S99000002", "another council: outside_area"),
    "TT1 1AG": (0, 0, CODE, "no grid reference: missing_location"),
    "TT101AA": (X0 + 1200, Y0 + 1800, CODE, "4-character outward code in 7-character form: East"),
}

#: The answer each of :data:`POSTCODES` must get: postcode -> (team or None, status, method).
ANSWERS = {
    "TT1 1AA": ("North", "allocated", "catchment"),
    "TT1 1AB": ("East", "allocated", "catchment"),
    "TT1 1AC": ("South", "allocated", "catchment"),
    "TT1 1AD": ("East", "nearest_team", "nearest"),
    "TT1 1AE": ("North", "nearest_team", "nearest"),
    "TT1 1AH": ("North", "allocated", "catchment"),
    "TT1 1AJ": ("North", "allocated", "catchment"),
    "TT2 9ZZ": (None, "outside_area", "none"),
    "TT1 1AG": (None, "missing_location", "none"),
    "TT101AA": ("East", "allocated", "catchment"),
}

#: Extra rows written only in the ONS Postcode Directory form (``write_test_data(onspd=True)``):
#: postcode -> (easting, northing, council code, date terminated "YYYYMM" or "")
ONSPD_TERMINATED = {
    "TT1 9ZA": (X0 + 600, Y0 + 400, CODE, "201903"),  # terminated, last inside C: South
    "TT2 9ZB": (X0 + 5100, Y0 + 5100, "S99000002", "202001"),  # terminated, another council
}

SCHOOLS = [
    # seed, name, type, denomination, easting, northing
    ("8000001", "North Academy", "Secondary", "Non-denominational", X0 + 400, Y0 + 1600),
    ("8000002", "East Academy", "Secondary", "Non-denominational", X0 + 1600, Y0 + 1600),
    ("8000003", "South Academy", "Secondary", "Non-denominational", X0 + 400, Y0 + 400),
    ("8000009", "St Test RC Academy", "Secondary", "Roman Catholic", X0 + 600, Y0 + 300),
    ("8000010", "Test Special School", "Special", "Non-denominational", X0 + 1700, Y0 + 1200),
    ("8000020", "North Primary School", "Primary", "Non-denominational", X0 + 300, Y0 + 1300),
]

_SG_COLUMNS = [
    "SeedCode", "SchUID", "SchoolType", "CentreType", "SchoolName", "AddressLine1", "AddressLine2",
    "AddressLine3", "PostCode", "LAName", "LACode", "DataZone", "UPRN", "Email", "Phone", "Website",
    "Denomination", "FTETeacher", "PupilRoll", "PropPupilsMinorityEthnic",
    "PropPupils20PCMostDeprived", "DZSIMDPercentile", "DZSIMDMostDep15Pct", "DZSIMDMostDep16_25Pct",
    "DZSIMDMostDep25Pct", "AddrUR8", "AddrUR6", "AddrUR8Desc", "AddrUR6Desc", "DZUR8", "DZUR6",
    "DZUR8Desc", "DZUR6Desc", "GridRefEasting", "GridRefNorthing", "Latitude", "Longitude", "Notes",
]

PROFILE_TOML = """
overrides = []

[council]
name = "Testshire"
code = "S99000001"
unit = "team"
effective_from = 2022-04-04

[[teams]]
name = "North"
schools = [{ seed_code = "8000001", name = "NORTH ACADEMY" }]
colour = "#4477AA"
hubs = [{ name = "North Hub", postcode = "TT1 1AA" }]

[[teams]]
name = "East"
schools = [{ seed_code = "8000002", name = "EAST ACADEMY" }]
colour = "#E69F00"
hubs = [{ name = "East Base", easting = 301500, northing = 601500 }]

[[teams]]
name = "South"
schools = [{ seed_code = "8000003", name = "SOUTH ACADEMY" }]
colour = "#66CCEE"

[[unassigned_catchments]]
name = "OTHER ACADEMY (NEIGHBOUR COUNCIL)"
note = "Served from a neighbouring council."

[council_wide_schools]
faith = [{ seed_code = "8000009", name = "St Test RC Academy", denomination = "Roman Catholic" }]
asn_from_school_roll = true
asn = []

[[services]]
name = "Social work"
mode = "team"

[[services]]
name = "Speech and language therapy"
mode = "link_worker"
link_workers = [{ covers = ["North", "East"] }, { covers = ["South"] }]

[sources.catchments]
description = "Made-up catchments"
publisher = "heart_geo tests"
licence = "CC0"
attribution = "Made-up test data."
patterns = ["**/catchments.gpkg"]
layer = "pub_schlsn"

[sources.postcodes]
description = "Made-up postcodes in Code-Point Open format"
publisher = "heart_geo tests"
licence = "CC0"
attribution = "Made-up test data."
patterns = ["**/postcodes/*.csv"]

[sources.schools]
description = "Made-up school roll"
publisher = "heart_geo tests"
licence = "CC0"
attribution = "Made-up test data."
patterns = ["**/school_roll.csv"]

[sources.addresses]
description = "Made-up address points in OS Open UPRN format"
publisher = "heart_geo tests"
licence = "CC0"
attribution = "Made-up test data."
patterns = ["**/osopenuprn_*.csv", "**/osopenuprn_*_csv.zip", "**/osopenuprn_*.gpkg"]

[sources.uprn_directory]
description = "Made-up ONS UPRN Directory"
publisher = "heart_geo tests"
licence = "CC0"
attribution = "Made-up test data."
patterns = ["**/ONSUD_*.csv", "**/ONSUD_*.zip"]

[sources.council]
description = "Made-up council outline"
publisher = "heart_geo tests"
licence = "CC0"
attribution = "Made-up test data."
patterns = ["**/council.geojson"]
code_field = ["LAD13CD"]
[sources.data_zones]
description = "Made-up data zones"
publisher = "heart_geo tests"
licence = "CC0"
attribution = "Made-up test data."
patterns = ["**/tt_data_zones.gpkg"]

[sources.population]
description = "Made-up small-area population estimates in Public Health Scotland's layout"
publisher = "heart_geo tests"
licence = "CC0"
attribution = "Made-up test data."
patterns = ["**/dz2011_population_tt.csv"]

[sources.simd]
description = "Made-up SIMD with geography"
publisher = "heart_geo tests"
licence = "CC0"
attribution = "Made-up test data."
patterns = ["**/simd2020_withinds_tt.csv"]

[sources.care_services]
description = "Made-up registered care services in the Care Inspectorate datastore format"
publisher = "heart_geo tests"
licence = "CC0"
attribution = "Made-up test data."
patterns = ["**/care_inspectorate_datastore_*.csv"]
kind = "care_services"
located_by = "postcode"

[sources.hospitals]
description = "Made-up hospitals in PHS's Current NHS Hospitals format"
publisher = "heart_geo tests"
licence = "CC0"
attribution = "Made-up test data."
patterns = ["**/current-hospital_*.csv"]
kind = "hospitals"
located_by = "coordinates"

[sources.gp_practices]
description = "Made-up GP practices"
publisher = "heart_geo tests"
licence = "CC0"
attribution = "Made-up test data."
patterns = ["**/gp_practices_*.csv"]
kind = "gp_practices"
located_by = "postcode"
"""


#: The Care Inspectorate datastore's 101 columns, in the published order.
CARE_INSPECTORATE_COLUMNS = [
    "CSNumber", "Combined_Service_", "CaseNumber_Combined", "CareService", "Subtype", "AdditionalSubtypes",
    "ServiceType", "ServiceName", "Address_line_1", "Address_line_2", "Address_line_3", "Address_line_4",
    "Service_town", "Service_Postcode", "ChopUPRN", "Manager_Name", "Service_Phone_Number",
    "Eforms_email_address", "SP_number", "ServiceProvider", "Provided_by_Local_Authority", "ServiceStatus",
    "DateReg", "Date_Reg", "SIMD_rank", "SIMD2020_Decile", "Datazone", "Integration_Authority_Name", "TotalBeds",
    "SingleBedrooms", "BedsInDoubleRooms", "BedsInBedroomsFor3OrMore", "Dec25_Annual_Return_Submitted",
    "CareHome_Main_Area_of_Care", "Care_Home_All_Areas_of_Provision", "Council_Area_Name", "Health_Board_Name",
    "NumberStaff", "Registered_Places", "Client_group", "PublicList", "RAD_SAT_Score", "GradeSpread", "MinGrade",
    "MaxGrade", "Publication_of_Latest_Grading", "Year_Month_latest_grade", "KQ_Support_Wellbeing",
    "KQ_Care_and_Support_Planning", "KQ_Setting", "KQ_Staff_Team", "KQ_Leadership", "KQ_Care_Play_and_Learning",
    "MinGrade_change", "KQ_Wellbeing_change", "KQ_Planning_change", "KQ_Setting_change", "KQ_Staff_change",
    "KQ_Leadership_change", "KQ_CPL_change", "Complaints_upheld_2425", "Complaints_upheld_2526",
    "Complaints_upheld_2627", "Enforcements_issued_2425", "Enforcements_issued_2526", "Enforcements_issued_2627",
    "any_requirements_2425", "any_requirements_2526", "any_requirements_2627", "count any reqs 2425",
    "count any reqs 2526", "count any reqs 2627", "Last_inspection_Date",
    *[f"{n}_{k}_2526" for n in ("first", "second", "third", "fourth", "fifth", "sixth")
      for k in ("date", "case", "recs", "reqs")],
    "first_date_2627", "first_case_2627", "first_recs_2627", "first_reqs_2627",
]

#: Made-up registered care services (the datastore format): CareService, Subtype, ServiceName,
#: ServiceProvider, Service_Postcode, ServiceStatus, Council_Area_Name, Address_line_1, Manager_Name,
#: Service_Phone_Number, Eforms_email_address, what it tests. Written in Windows-1252, as published.
CARE_SERVICES = [
    ("Day Care of Children", "Day Care of Children (under 3s)", "Testtown Early Years Centre", "Testshire Council",
     "TT1 1AA", "Active", "Testshire", "1 School Road", "Ann Manager", "01000 000001", "eyc@example.invalid",
     "public, North"),
    ("Day Care of Children", "Day Care of Children (over 3s)", "Acorns & <b>Oaks</b> Club", "Acorns Ltd",
     "tt11ab", "Active", "Testshire", "2 Oak Lane", "", "", "", "public, East; name needs HTML escaping"),
    ("Day Care of Children", "Day Care of Children (over 3s)", "Gap Ring Playgroup", "",
     "TT1 1AE", "Active", "Testshire", "", "", "", "", "public, in the gap: nearest_team North; no provider given"),
    ("Child Minding", "", "Morag O\u2019Testperson", "Morag O\u2019Testperson", "TT1 1AC", "Active", "Testshire",
     "7 Private Close", "Morag O\u2019Testperson", "07700 900123", "morag.testperson@example.invalid",
     "childminder with a postcode: counted in South, never named"),
    ("Child Minding", "", "Hamish Madeup", "Hamish Madeup", "", "Active", "Testshire", "", "Hamish Madeup",
     "07700 900456", "hamish.madeup@example.invalid", "childminder, no postcode: counted for the council"),
    ("Care Home Service", "Children & Young People", "Rowan Test House", "Testshire Council", "", "Active",
     "Testshire", "", "Rita Carer", "01000 000009", "rowan@example.invalid", "children's house, withheld address"),
    ("Care Home Service", "Children & Young People", "Birch Test House", "Testshire Council", "TT1 1AJ", "Active",
     "Testshire", "12 Secret Lane", "", "01000 000010", "", "children's house WITH a postcode: counted, never shown"),
    ("Fostering Service", "", "Testshire Council Fostering Service", "Testshire Council", "TT1 1AB", "Active",
     "Testshire", "9 Hidden Row", "", "", "", "fostering: counted only"),
    ("Support Service", "Other than Care at home", "Testshire Day Opportunities", "Testshire Council", "TT1 1ZZ",
     "Active", "Testshire", "", "", "", "", "public, unknown_postcode"),
    ("Care Home Service", "Older People", "Testshire Care Home", "Care Co", "TT1 1AB", "Active", "Testshire",
     "", "", "", "", "public adult care home (no kinds filter in this profile)"),
    ("Brand New Service", "", "Unreviewed Category Service", "New Co", "TT1 1AA", "Active", "Testshire", "", "", "",
     "", "a category nobody reviewed: count-only by default"),
    ("Day Care of Children", "Day Care of Children (under 3s)", "Closed Nursery", "Gone Ltd", "TT1 1AA", "Inactive",
     "Testshire", "", "", "", "", "inactive: left out"),
    ("Housing Support Service", "", "Elsewhere Housing Support", "Other Co", "TT2 9ZZ", "Active", "Otherslaw", "",
     "", "", "", "another council's row: left out"),
]

#: Made-up hospitals (PHS format): Location, LocationName, Postcode, CA, XCoordinate, YCoordinate.
HOSPITALS = [
    # the site (coordinates) is in East; its postcode's centroid is in South: the site decides
    ("T101H", "Testshire General Hospital", "TT1 1AC", CODE, int(X0 + 1600), int(Y0 + 1400)),
    ("T102H", "Otherslaw Infirmary", "TT2 9ZZ", "S99000002", int(X0 + 5000), int(Y0 + 5000)),
]
#: Made-up GP practices (the compiled ISD format): Practice Code, Name, Post code, HSCP Name.
GP_PRACTICES = [
    ("99001", "Testtown Medical Practice", "TT1 1AC", "Testshire"),
    ("99002", "Border Surgery", "TT2 9ZZ", "Testshire"),  # listed by the partnership, stands in another council
]
#: Personal or safeguarded values in :data:`CARE_SERVICES` that no output may ever contain.
CARE_SERVICES_SECRETS = [
    "Morag O\u2019Testperson", "Testperson", "07700 900123", "morag.testperson@example.invalid", "Hamish Madeup",
    "07700 900456", "hamish.madeup@example.invalid", "7 Private Close", "Rowan Test House", "Birch Test House",
    "12 Secret Lane", "rowan@example.invalid", "Rita Carer", "Testshire Council Fostering Service", "9 Hidden Row",
    "Unreviewed Category Service",
]


#: Made-up data zones: code -> (name, (xmin, ymin, xmax, ymax) from (X0, Y0), council, people of each
#: age 0-17, SIMD rank). TZ03 holds a North and a South postcode (split half and half); TZ05 has no
#: postcode (its centre lies in the gap south of D: nearest team South) and is written as two
#: overlapping halves (invalid: repaired); TZ99 belongs to the neighbouring council.
DATA_ZONES = {
    "S01990001": ("Testtown North", (-500, 1100, 1000, 2500), "Testshire", 10, 6500),
    "S01990002": ("Testtown East", (1000, 1000, 2500, 2500), "Testshire", 4, 100),
    "S01990003": ("Testtown Middle", (-500, -500, 1000, 1100), "Testshire", 6, 1000),
    "S01990004": ("Testtown Fields", (1000, 400, 2500, 1000), "Testshire", 2, 3000),
    "S01990005": ("Testtown Moor", (1000, -500, 2500, 400), "Testshire", 1, 2000),
    "S01990099": ("Otherslaw Centre", (4000, 4000, 6000, 6000), "Otherslaw", 100, 50),
}
#: The answers :func:`heart_geo.population.team_population` must give for Testshire, ages 0-17:
#: team -> (population, SIMD quintile 1 population, zones, split zones, population in split zones).
POPULATION_ANSWERS = {
    "North": (180 + 54, 54, 2, 1, 54),
    "East": (72 + 36, 72, 2, 0, 0),
    "South": (54 + 18, 54, 2, 1, 54),
}


def write_small_area_data(folder: str | Path) -> None:
    """Write Testshire's made-up data zones (GeoPackage), population (PHS layout) and SIMD (with geography)."""
    folder = Path(folder)
    geoms = []
    for code, (_, (x1, y1, x2, y2), *_rest) in DATA_ZONES.items():
        if code == "S01990005":  # two overlapping halves: an invalid MultiPolygon to repair
            geoms.append(shapely.MultiPolygon([shapely.box(X0 + x1, Y0 + y1, X0 + 1800, Y0 + y2),
                                               shapely.box(X0 + 1700, Y0 + y1, X0 + x2, Y0 + y2)]))
        else:
            geoms.append(shapely.box(X0 + x1, Y0 + y1, X0 + x2, Y0 + y2))
    gpd.GeoDataFrame({"DZ2011_Code": list(DATA_ZONES), "DZ2011_Name": [v[0] for v in DATA_ZONES.values()]},
                     geometry=geoms, crs="EPSG:27700").to_file(folder / "tt_data_zones.gpkg", driver="GPKG")
    ages = [f"Age{i}" for i in range(90)] + ["Age90plus"]
    with open(folder / "dz2011_population_tt.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["Year", "DataZone", "DataZoneQF", "Sex", "SexQF", "AllAges", *ages])
        for year, extra in ((2019, 1), (2020, 0)):  # the newest year answers
            for code, (*_rest, child, _rank) in DATA_ZONES.items():
                people = [child + extra] * 18 + [5] * 72 + [2]
                female = [v // 2 for v in people]
                for sex, vals in (("All", people), ("Female", female),
                                  ("Male", [a - f for a, f in zip(people, female, strict=True)])):
                    w.writerow([year, code, "", sex, "d" if sex == "All" else "", sum(vals), *vals])
            w.writerow([year, "S92000003", "d", "All", "d", 999, *([1] * 91)])  # Scotland: left out
    with open(folder / "simd2020_withinds_tt.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, quoting=csv.QUOTE_NONNUMERIC)
        w.writerow(["Data_Zone", "Intermediate_Zone", "Council_area", "Total_population", "SIMD2020v2_Rank",
                    "SIMD_2020v2_Percentile", "SIMD2020v2_Decile", "SIMD2020v2_Quintile"])
        for code, (name, _box, council, child, rank) in DATA_ZONES.items():
            w.writerow([code, name, council, 18 * child + 362, rank, -(-rank * 100 // 6976),
                        -(-rank * 10 // 6976), -(-rank * 5 // 6976)])


def write_service_data(folder: str | Path) -> None:
    """Write Testshire's made-up service datasets (Care Inspectorate, PHS hospitals, GP practices)."""
    folder = Path(folder)
    with open(folder / "care_inspectorate_datastore_2026-01-31_testshire.csv", "w", newline="",
              encoding="cp1252") as fh:
        w = csv.DictWriter(fh, fieldnames=CARE_INSPECTORATE_COLUMNS)
        w.writeheader()
        for i, (care, sub, name, prov, pc, status, council, addr, manager, phone, email, _what) in enumerate(
                CARE_SERVICES):
            row = dict.fromkeys(CARE_INSPECTORATE_COLUMNS, "")
            row.update(CSNumber=f"CS20990000{i:02d}", CareService=care, Subtype=sub, ServiceName=name,
                       ServiceProvider=prov, Service_Postcode=pc, ServiceStatus=status, Council_Area_Name=council,
                       Address_line_1=addr, Manager_Name=manager, Service_Phone_Number=phone,
                       Eforms_email_address=email, Client_group="Children", Service_town="TESTTOWN")
            w.writerow(row)
    with open(folder / "current-hospital_flagged20990101.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\r\n")
        w.writerow(["Location", "LocationName", "Postcode", "AddressLine", "HB", "HSCP", "HSCPQF", "CA", "CAQF",
                    "IntZone", "IntZoneQF", "DataZone", "DataZoneQF", "XCoordinate", "YCoordinate",
                    "BasedOnPostcode"])
        for loc, name, pc, ca, x, y in HOSPITALS:
            w.writerow([loc, name, pc, "Testtown", "S08000099", "S37000099", "", ca, "", "", "", "", "", x, y, ""])
    with open(folder / "gp_practices_2099_04.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["Practice Code", "NHS Board Name", "Name", "Address", "Post code", "HSCP Name"])
        for code, name, pc, hscp in GP_PRACTICES:
            w.writerow([code, "Testshire", name, "The Health Centre", pc, hscp])


def _square(i: int, j: int) -> shapely.Polygon:
    return shapely.box(X0 + i * 1000, Y0 + j * 1000, X0 + (i + 1) * 1000, Y0 + (j + 1) * 1000)


def write_test_data(folder: str | Path, *, onspd: bool = False, small_areas: bool = False) -> Path:
    """Write Testshire's data folder and profile; return the profile TOML path.

    ``small_areas=True`` adds the data zones, population and SIMD (:func:`write_small_area_data`).
    ``onspd=True`` writes the postcodes as an ONS Postcode Directory CSV (header row; ``pcds``,
    ``oseast1m``, ``osnrth1m``, ``oslaua``, ``doterm``) with :data:`ONSPD_TERMINATED` added.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    a_halves = shapely.MultiPolygon(
        [shapely.box(X0, Y0 + 1000, X0 + 500, Y0 + 2000), shapely.box(X0 + 500, Y0 + 1000, X0 + 1000, Y0 + 2000)]
    )
    cat = gpd.GeoDataFrame(
        {
            "local_auth": ["Testshire"] * 4,
            "school_nam": ["NORTH ACADEMY", "EAST ACADEMY", "SOUTH ACADEMY", "OTHER ACADEMY (NEIGHBOUR COUNCIL)"],
            "la_s_code": [CODE] * 4,
            "seed_code": [8000001.0, 8000002.0, 8000003.0, None],
        },
        geometry=[a_halves, shapely.MultiPolygon([_square(1, 1)]), shapely.MultiPolygon([_square(0, 0)]),
                  shapely.MultiPolygon([_square(1, 0)])],
        crs="EPSG:27700",
    )  # kept in EPSG:27700 so edges stay exact; the council outline below tests reprojection
    cat.to_file(folder / "catchments.gpkg", layer="pub_schlsn", driver="GPKG")
    outline = shapely.box(X0 - 500, Y0 - 500, X0 + 2500, Y0 + 2500)
    council = gpd.GeoDataFrame({"LAD13CD": [CODE], "LAD13NM": ["Testshire"]}, geometry=[outline],
                               crs="EPSG:27700").to_crs("EPSG:4326")
    council.to_file(folder / "council.geojson", driver="GeoJSON")
    (folder / "postcodes").mkdir(exist_ok=True)
    if onspd:
        with open(folder / "postcodes" / "onspd_tt.csv", "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["pcd", "pcd2", "pcds", "dointr", "doterm", "oseast1m", "osnrth1m", "osgrdind",
                        "oslaua", "ctry"])
            rows = [(pc, e, n, code, "") for pc, (e, n, code, _) in POSTCODES.items()]
            rows += [(pc, e, n, code, t) for pc, (e, n, code, t) in ONSPD_TERMINATED.items()]
            for pc, e, n, code, term in rows:
                grid = (str(int(e)), str(int(n))) if e else ("", "")
                w.writerow([pc.replace(" ", "").ljust(7), pc, pc, "198001", term, *grid,
                            "1" if e else "9", code, "S92000003"])
    else:
        _write_codepoint(folder)
    with open(folder / "school_roll.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=_SG_COLUMNS)
        w.writeheader()
        for seed, name, typ, denom, e, n in SCHOOLS:
            row = dict.fromkeys(_SG_COLUMNS, "")
            row.update(SeedCode=seed, SchoolName=name, SchoolType=typ, Denomination=denom, LAName="Testshire",
                       LACode=CODE, GridRefEasting=int(e), GridRefNorthing=int(n), PupilRoll=100,
                       AddressLine1="1 Test Road", AddressLine3="TESTTOWN", PostCode="TT1 1AA")
            w.writerow(row)
    write_service_data(folder)
    if small_areas:
        write_small_area_data(folder)
    toml = folder / "testshire.toml"
    toml.write_text(PROFILE_TOML, encoding="utf-8")
    return toml


def _write_codepoint(folder: Path) -> None:
    with open(folder / "postcodes" / "tt.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, quoting=csv.QUOTE_NONNUMERIC)
        for pc, (e, n, code, _) in POSTCODES.items():
            seven = pc.replace(" ", "") if len(pc.replace(" ", "")) == 7 else pc  # Code-Point form
            w.writerow([seven, 10, int(e), int(n), "S92000003", "", "S08000099", "", code, "S13009999"])


def write_codepoint_release(folder: str | Path, postcodes: dict, *, version: str = "2025.4.0",
                            copyright_date: str = "20251020", spaced: bool = True,
                            metadata: bool = True) -> Path:
    """Write one Code-Point Open release of made-up postcodes, as OS publishes it.

    ``folder/Doc/metadata.txt`` states the release (dataset version, copyright date) and
    ``folder/postcodes/tt.csv`` holds the rows (no header, text quoted). ``spaced=True`` writes every
    postcode with one space (the 2025 form, ``"TT10 1AA"``); ``False`` the fixed 7-character form
    of older releases (``"TT101AA"``).

    Parameters
    ----------
    postcodes : dict
        postcode -> (easting, northing, council code, ...), as :data:`POSTCODES`.
    """
    folder = Path(folder)
    (folder / "postcodes").mkdir(parents=True, exist_ok=True)
    if metadata:
        (folder / "Doc").mkdir(exist_ok=True)
        (folder / "Doc" / "metadata.txt").write_text(
            "ORDNANCE SURVEY\nPRODUCT: OS CODE-POINT_03.02\n"
            f"DATASET VERSION NUMBER: {version}\nCOPYRIGHT DATE: {copyright_date}\n"
            f"RM UPDATE DATE: {copyright_date}\n      TT\t{len(postcodes)}\n",
            encoding="latin-1",
        )
    with open(folder / "postcodes" / "tt.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, quoting=csv.QUOTE_NONNUMERIC)
        for pc, (e, n, code, *_rest) in postcodes.items():
            compact = pc.replace(" ", "")
            text = f"{compact[:-3]} {compact[-3:]}" if spaced else (
                compact if len(compact) == 7 else f"{compact[:-3]:<4}{compact[-3:]}")
            w.writerow([text, 10, int(e), int(n), "S92000003", "", "S08000099", "", code, "S13009999"])
    return folder


#: Made-up address points: UPRN -> (easting, northing, postcode). TT1 1AJ's addresses straddle the
#: North/East line (3 in North, 2 in East); TT1 1AH's (centroid on the North/South edge) all lie in North.
ADDRESSES = {
    100000000001: (X0 + 400, Y0 + 1400, "TT1 1AA"),
    100000000002: (X0 + 600, Y0 + 1600, "TT1 1AA"),
    100000000011: (X0 + 930, Y0 + 1500, "TT1 1AJ"),
    100000000012: (X0 + 960, Y0 + 1520, "TT1 1AJ"),
    100000000013: (X0 + 980, Y0 + 1480, "TT1 1AJ"),
    100000000014: (X0 + 1020, Y0 + 1500, "TT1 1AJ"),
    100000000015: (X0 + 1040, Y0 + 1530, "TT1 1AJ"),
    100000000021: (X0 + 480, Y0 + 1020, "TT1 1AH"),
    100000000022: (X0 + 520, Y0 + 1030, "TT1 1AH"),
    100000000031: (X0 + 1500, Y0 + 1500, "TT1 1AB"),
    100000000099: (X0 + 5100, Y0 + 5000, "TT2 9ZZ"),  # another council
}
#: The ONSUD header as published (one region's CSV); the council column is LAD25CD.
ONSUD_HEADER = [
    "UPRN", "GRIDGB1E", "GRIDGB1N", "PCDS", "CTY25CD", "CED25CD", "LAD25CD", "WD25CD", "PARNCP25CD",
    "HLTH19CD", "CTRY25CD", "RGN25CD", "PCON24CD", "EER20CD", "TTWA15CD", "ITL25CD", "NPARK16CD", "OA21CD",
    "LSOA21CD", "MSOA21CD", "WZ11CD", "SICBL24CD", "BUA24CD", "RUC21IND", "OAC21IND", "LEP21CD1", "LEP21CD2",
    "PFA23CD", "IMD19IND",
]


def write_open_uprn(folder: str | Path, addresses: dict | None = None, *, name: str = "osopenuprn_202511.csv",
                    zipped: bool = False) -> Path:
    """Write made-up address points as OS publishes Open UPRN (``UPRN,X_COORDINATE,...``)."""
    from pyproj import Transformer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rows = addresses if addresses is not None else ADDRESSES
    tr = Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True)
    lines = ["UPRN,X_COORDINATE,Y_COORDINATE,LATITUDE,LONGITUDE"]
    for uprn, (e, n, *_rest) in rows.items():
        lon, lat = tr.transform(e, n)
        lines.append(f"{uprn},{e:.2f},{n:.2f},{lat:.7f},{lon:.7f}")
    text = "\r\n".join(lines) + "\r\n"
    if zipped:
        import zipfile

        out = folder / name.replace(".csv", "_csv.zip")
        with zipfile.ZipFile(out, "w") as zf:
            zf.writestr(name, text)
            zf.writestr("versions.txt", "made-up")
        return out
    out = folder / name
    out.write_text(text, encoding="utf-8")
    return out


def write_onsud(folder: str | Path, addresses: dict | None = None, *, name: str = "ONSUD_NOV_2025_SC.csv") -> Path:
    """Write made-up address points as the ONS UPRN Directory publishes one region's CSV."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rows = addresses if addresses is not None else ADDRESSES
    with open(folder / name, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(ONSUD_HEADER)
        for uprn, (e, n, pc) in rows.items():
            code = POSTCODES.get(pc, (0, 0, CODE))[2]
            row = dict.fromkeys(ONSUD_HEADER, "")
            row.update(UPRN=uprn, GRIDGB1E=int(e), GRIDGB1N=int(n), PCDS=pc, LAD25CD=code, CTRY25CD="S92000003")
            w.writerow([row[c] for c in ONSUD_HEADER])
    return folder / name


def make_profile(folder: str | Path | None = None, *, onspd: bool = False, small_areas: bool = False):
    """Build Testshire's files (in ``folder`` or a new temporary folder) and load its profile.

    Examples
    --------
    >>> p = make_profile()
    >>> p.allocate(["tt1 1aa", "TT11AD"])[["team", "status"]].to_dict("records")
    [{'team': 'North', 'status': 'allocated'}, {'team': 'East', 'status': 'nearest_team'}]
    """
    from .profiles import load_profile

    folder = Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix="testshire-"))
    toml = write_test_data(folder, onspd=onspd, small_areas=small_areas)
    return load_profile(toml, data_dir=folder, cache=False)


def geojson_square(path: str | Path, *, crs: str | None = "EPSG:27700", geometry: dict | None = None) -> Path:
    """Write a one-feature GeoJSON (optionally without a CRS, or with given geometry) for error tests."""
    feat = {
        "type": "Feature",
        "properties": {"school_nam": "BAD ACADEMY", "seed_code": "1"},
        "geometry": geometry or shapely.geometry.mapping(_square(0, 0)),
    }
    doc = {"type": "FeatureCollection", "features": [feat]}
    if crs is not None:
        doc["crs"] = {"type": "name", "properties": {"name": f"urn:ogc:def:crs:{crs.replace(':', '::')}"}}
    Path(path).write_text(json.dumps(doc), encoding="utf-8")
    return Path(path)
