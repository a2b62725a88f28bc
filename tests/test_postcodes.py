import pytest

from heart_geo.postcodes import normalise_postcode, normalise_postcodes, postcode_district, postcode_sector


@pytest.mark.parametrize(
    "text, expected",
    [
        ("KA18 1FQ", "KA18 1FQ"),
        ("ka18 1fq", "KA18 1FQ"),
        ("KA181FQ", "KA18 1FQ"),  # Code-Point Open's 7-character form
        ("  KA18   1FQ ", "KA18 1FQ"),
        ("KA3 5QF", "KA3 5QF"),
        ("ka35qf", "KA3 5QF"),
        ("G1 1AA", "G1 1AA"),
        ("EH1 1YZ", "EH1 1YZ"),
        ("SW1A 1AA", "SW1A 1AA"),
        ("The Barony Campus, Auchinleck Road, Cumnock, KA18 1FQ", "KA18 1FQ"),
        ("Flat 2, 10 Main St, Dalmellington KA6 7SJ Scotland", "KA6 7SJ"),
        ("KA6\t7SJ", "KA6 7SJ"),
    ],
)
def test_normalise_spellings(text, expected):
    assert normalise_postcode(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "hello", "KA18", "1FQ", "12345", None, float("nan"), "KA18 1F"])
def test_not_a_postcode(text):
    assert normalise_postcode(text) is None


def test_vectorised_matches_scalar_and_kinds():
    values = ["ka18 1fq", "KA181FQ", "Cumnock KA18 1FQ", "", None, "hello", "KA3 5QF"]
    pcs, kind = normalise_postcodes(values)
    assert pcs.tolist() == [normalise_postcode(v) for v in values]
    assert kind.tolist() == ["postcode", "postcode", "address", "empty", "empty", "invalid", "postcode"]


def test_sector_and_district():
    assert postcode_sector("KA23 9NZ") == "KA23 9"
    assert postcode_district("KA23 9NZ") == "KA23"
