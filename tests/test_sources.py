"""Loaders on files written in code in the official formats (real files: test_realdata.py)."""

import csv
import zipfile

import geopandas as gpd
import pytest
import shapely

from heart_geo import DataFormatError, DataNotFoundError, read_catchments, read_postcodes, repair_geometry
from heart_geo.errors import CRSMismatchError
from heart_geo.sources import find_source, read_council_boundary, read_schools, resolve_data_dir
from heart_geo.testing import X0, Y0, geojson_square, write_test_data


@pytest.fixture()
def folder(tmp_path):
    write_test_data(tmp_path)
    return tmp_path


def test_catchments_gpkg_reprojected_and_repaired(folder):
    cat = read_catchments(folder / "catchments.gpkg", layer="pub_schlsn")
    assert cat.crs.to_epsg() == 27700
    assert list(cat["seed_code"]) == ["8000001", "8000002", "8000003", None]
    north = cat[cat["school_name"] == "NORTH ACADEMY"].iloc[0]
    assert north["repair"] == "unioned 2 touching/overlapping parts"
    assert north.geometry.is_valid
    assert north.geometry.area == pytest.approx(1e6, rel=1e-3)  # nothing lost
    assert cat.geometry.is_valid.all()


def test_catchments_council_filter(folder):
    assert len(read_catchments(folder / "catchments.gpkg", council_code="S99000001")) == 4
    assert len(read_catchments(folder / "catchments.gpkg", council_code="S12000008")) == 0


def test_catchments_one_file_per_school_and_zip(folder, tmp_path):
    cat = read_catchments(folder / "catchments.gpkg")
    per = tmp_path / "per_school"
    per.mkdir()
    for i, row in cat.iterrows():
        gpd.GeoDataFrame([row], crs=cat.crs).rename(columns={"school_name": "school_nam"}).to_file(
            per / f"school_{i}.geojson", driver="GeoJSON")
    again = read_catchments(per)
    assert sorted(again["school_name"]) == sorted(cat["school_name"])
    z = tmp_path / "catchments.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.write(folder / "catchments.gpkg", "catchments.gpkg")
    assert len(read_catchments(z, layer="pub_schlsn")) == 4


def test_repair_keeps_area_where_make_valid_would_not():
    parts = shapely.MultiPolygon([shapely.box(0, 0, 2, 2), shapely.box(1, 1, 3, 3)])
    fixed, note = repair_geometry(parts)
    assert note.startswith("unioned 2")
    assert fixed.area == pytest.approx(7.0)
    ok, note = repair_geometry(shapely.box(0, 0, 1, 1))
    assert note == ""


@pytest.mark.filterwarnings("ignore:.crs. was not provided")
def test_catchment_file_without_crs_is_an_error(tmp_path):
    gdf = gpd.GeoDataFrame({"school_nam": ["X"]}, geometry=[shapely.box(X0, Y0, X0 + 10, Y0 + 10)])
    gdf.to_file(tmp_path / "nocrs.shp")
    with pytest.raises(DataFormatError, match="has no CRS"):
        read_catchments(tmp_path / "nocrs.shp")


def test_metres_declared_as_degrees_is_an_error(tmp_path):
    # GeoJSON is WGS84 by definition; BNG metres in it cannot be right
    p = geojson_square(tmp_path / "metres.geojson", crs=None)
    with pytest.raises(CRSMismatchError, match="look like metres"):
        read_catchments(p)


def test_non_polygon_and_empty_geometry_reported_together(tmp_path):
    gdf = gpd.GeoDataFrame({"school_nam": ["A", "B", "C"]},
                           geometry=[shapely.Point(X0, Y0), shapely.Polygon(), shapely.box(X0, Y0, X0 + 1, Y0 + 1)],
                           crs="EPSG:27700")
    gdf.to_file(tmp_path / "mixed.gpkg")
    both = r"row 1: Point .*row 2: empty geometry|row 2: empty geometry.*row 1: Point"
    with pytest.raises(DataFormatError, match=both):
        read_catchments(tmp_path / "mixed.gpkg")


def _codepoint_rows():
    return [["KA181FQ", 10, 256084, 620378, "S92000003", "", "S08000015", "", "S12000008", "S13002891"],
            ["KA3 5QF", 10, 242841, 646102, "S92000003", "", "S08000015", "", "S12000008", "S13002890"],
            ["KA9 9ZZ", 90, 0, 0, "S92000003", "", "S08000015", "", "S12000008", "S13002890"]]


def test_codepoint_as_published_header_folder_and_zip(tmp_path):
    raw = tmp_path / "ka.csv"
    with open(raw, "w", newline="") as fh:
        csv.writer(fh, quoting=csv.QUOTE_NONNUMERIC).writerows(_codepoint_rows())
    df = read_postcodes(raw)
    assert df["postcode"].tolist() == ["KA18 1FQ", "KA3 5QF", "KA9 9ZZ"]
    assert df["easting"].iloc[0] == 256084
    assert df["easting"].isna().iloc[2]  # 0,0 means no grid reference
    with_header = tmp_path / "h" / "codepoint.csv"
    with_header.parent.mkdir()
    with open(with_header, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["Postcode", "Positional_quality_indicator", "Eastings", "Northings", "Country_code",
                    "NHS_regional_HA_code", "NHS_HA_code", "Admin_county_code", "Admin_district_code",
                    "Admin_ward_code"])
        w.writerows(_codepoint_rows())
    assert read_postcodes(with_header)["postcode"].tolist() == df["postcode"].tolist()
    # the published zip: Data/CSV/*.csv, Doc/ ignored
    z = tmp_path / "codepo_gb.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.write(raw, "Data/CSV/ka.csv")
        zf.writestr("Doc/Code-Point_Open_Column_Headers.csv", "PC,PQ,EA,NO,CY,RH,LH,CC,DC,WC\n")
    assert read_postcodes(z)["postcode"].tolist() == df["postcode"].tolist()
    folder = tmp_path / "Data" / "CSV"
    folder.mkdir(parents=True)
    (folder / "ka.csv").write_bytes(raw.read_bytes())
    assert len(read_postcodes(tmp_path / "Data")) == 3


def test_onspd_with_terminated(tmp_path):
    p = tmp_path / "ONSPD_TEST.csv"
    p.write_text(
        "pcd,pcd2,pcds,dointr,doterm,oseast1m,osnrth1m,osgrdind,oslaua\n"
        "KA181FQ,KA18 1FQ,KA18 1FQ,198001,,256084,620378,1,S12000008\n"
        "KA6 7ZZ,KA6  7ZZ,KA6 7ZZ,198001,200512,247649,605957,1,S12000008\n"
    )
    df = read_postcodes(p)
    assert df["terminated"].tolist() == [False, True]
    assert df["council_code"].tolist() == ["S12000008", "S12000008"]


def test_unrecognised_postcode_file(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(DataFormatError, match="neither Code-Point Open"):
        read_postcodes(p)


def test_schools_csv(folder):
    s = read_schools(folder / "school_roll.csv", council_code="S99000001")
    assert s.crs.to_epsg() == 27700
    assert set(s["school_type"]) == {"Secondary", "Special", "Primary"}


def test_council_boundary(folder):
    b = read_council_boundary(folder / "council.geojson", "S99000001", code_field=["LAD13CD"])
    assert b.geometry.iloc[0].area == pytest.approx(9e6, rel=1e-3)
    with pytest.raises(DataFormatError, match="no feature with LAD13CD = 'S1'"):
        read_council_boundary(folder / "council.geojson", "S1", code_field=["LAD13CD"])


def test_data_dir_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("HEART_GEO_DATA", str(tmp_path))
    assert resolve_data_dir() == tmp_path.resolve()
    assert resolve_data_dir(tmp_path / ".") == tmp_path.resolve()
    with pytest.raises(DataNotFoundError, match="does not exist"):
        resolve_data_dir(tmp_path / "nope")
    with pytest.raises(DataNotFoundError, match=r"no postcodes found.*looked for"):
        find_source(tmp_path, ["**/*.csv"], what="postcodes")


@pytest.mark.parametrize("odd_row", [None, ["KÄ1 1AA", 10, 1, 1, "", "", "", "", "S12000099", ""]])
def test_compact_postcodes_sorted_first_wins_and_council_kept(tmp_path, odd_row):
    """The rest of a national file: keys sorted as bytes, the first row of a repeated postcode wins, the
    council's own and nearby postcodes left out; a non-ASCII row (read the slow way) is dropped."""
    from heart_geo.sources import read_postcode_table

    far = [["ZE1 0AA", 10, 446000, 1141000, "", "", "", "", "S12000027", ""],
           ["g1 1aa", 10, 259000, 665000, "", "", "", "", "S12000049", ""],  # lower case: normalised
           ["AB101AA", 10, 394000, 806000, "", "", "", "", "S12000033", ""],
           ["G1  1AA", 10, 1, 2, "", "", "", "", "S12000046", ""],  # repeated: the first one wins
           ["W1A 1AA", 10, 0, 0, "", "", "", "", "E09000033", ""],  # no grid reference: -1
           ["not a pc", 10, 5, 5, "", "", "", "", "S12000049", ""]]
    rows = _codepoint_rows() + far + ([odd_row] if odd_row else [])
    with zipfile.ZipFile(tmp_path / "codepo_gb.zip", "w") as zf:
        zf.writestr("Data/CSV/a.csv", "".join(",".join(f'"{v}"' if isinstance(v, str) else str(v) for v in r) + "\n"
                                             for r in rows[:5]))
        zf.writestr("Data/CSV/b.csv", "".join(",".join(f'"{v}"' if isinstance(v, str) else str(v) for v in r) + "\n"
                                             for r in rows[5:]))
    near, rest = read_postcode_table(tmp_path / "codepo_gb.zip", near_codes=["S12000008"], near_box=(-9, -9, -5, -5))
    assert sorted(near["postcode"]) == ["KA18 1FQ", "KA3 5QF", "KA9 9ZZ"]
    assert rest["keys"].tolist() == [b"AB10 1AA", b"G1 1AA", b"W1A 1AA", b"ZE1 0AA"]
    codes = [rest["codes"][i].decode() for i in rest["council"]]
    assert codes == ["S12000033", "S12000049", "E09000033", "S12000027"]
    assert rest["easting"].tolist() == [394000, 259000, -1, 446000]
