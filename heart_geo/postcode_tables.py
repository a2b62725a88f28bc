"""National postcode tables: the pseudo-postcodes, the Crown dependencies and the postcode areas.

These are UK-wide standards, not a council's configuration, so they live here as data, one table
each. :mod:`heart_geo.mistakes` reads them; nothing else should need to.

* :data:`PSEUDO_POSTCODES`: single codes that health and statistics records use where a person has
  no usable address. They are well-formed, so without this table they would read as postcodes newer
  than the data, and a family of no fixed abode would be told it lives outside the council.
* :data:`PSEUDO_DISTRICTS`: whole districts that are pseudo-postcodes or forces mail addresses.
* :data:`CROWN_DEPENDENCIES`: real postcodes of Guernsey, Jersey and the Isle of Man, which Great
  Britain's postcode files (OS Code-Point Open, and the ONS Postcode Directory's grid references) do
  not place.
* :data:`POSTCODE_AREAS`: the letters a UK postcode can start with (124 areas, plus the forces
  ``BF``), used to tell an incomplete postcode ("KA1 2F", "KA12") from any other word.
"""

from __future__ import annotations

__all__ = ["CROWN_DEPENDENCIES", "POSTCODE_AREAS", "PSEUDO_DISTRICTS", "PSEUDO_POSTCODES"]

#: One pseudo-postcode -> what it means, and who publishes it.
PSEUDO_POSTCODES: dict[str, tuple[str, str]] = {
    "ZZ99 3VZ": ("no fixed abode", "NHS"),
    "ZZ99 3WZ": ("address not known", "NHS"),
    "ZZ99 3CZ": ("England, not otherwise specified", "NHS"),
    "ZZ99 3GZ": ("Wales, not otherwise specified", "NHS"),
    "ZZ99 1WZ": ("Scotland, not otherwise specified", "NHS"),
    "ZZ99 2WZ": ("Northern Ireland, not otherwise specified", "NHS"),
    "NF1 1AB": ("no fixed abode", "NHS Scotland (ISD)"),
    "NK01 0AA": ("address not known", "NHS Scotland (ISD)"),
}

#: A district (outward code) whose every postcode says no place -> what it means.
PSEUDO_DISTRICTS: dict[str, str] = {
    "ZZ99": ("an NHS/ONS pseudo-postcode for a person with no usable UK address (a country of residence "
             "overseas, a UK country not otherwise specified, or no fixed abode)"),
    "BF1": "a British Forces Post Office (BFPO) postcode: a forces mail address, not where the family lives",
}

#: Written for forces mail without a postcode ("BFPO 58"): the same meaning as district BF1.
BFPO_MEANING = "a British Forces Post Office (BFPO) number: a forces mail address, not where the family lives"

#: Postcode area of a Crown dependency -> its name (outside Great Britain's postcode data).
CROWN_DEPENDENCIES: dict[str, str] = {
    "GY": "Guernsey (Channel Islands)",
    "JE": "Jersey (Channel Islands)",
    "IM": "the Isle of Man",
}

#: The UK's postcode areas (the letters before the first digit), and BF for forces mail.
POSTCODE_AREAS: frozenset[str] = frozenset((
    "AB", "AL", "B", "BA", "BB", "BD", "BF", "BH", "BL", "BN", "BR", "BS", "BT", "CA", "CB", "CF",
    "CH", "CM", "CO", "CR", "CT", "CV", "CW", "DA", "DD", "DE", "DG", "DH", "DL", "DN", "DT", "DY",
    "E", "EC", "EH", "EN", "EX", "FK", "FY", "G", "GL", "GU", "GY", "HA", "HD", "HG", "HP", "HR",
    "HS", "HU", "HX", "IG", "IM", "IP", "IV", "JE", "KA", "KT", "KW", "KY", "L", "LA", "LD", "LE",
    "LL", "LN", "LS", "LU", "M", "ME", "MK", "ML", "N", "NE", "NG", "NN", "NP", "NR", "NW", "OL",
    "OX", "PA", "PE", "PH", "PL", "PO", "PR", "RG", "RH", "RM", "S", "SA", "SE", "SG", "SK", "SL",
    "SM", "SN", "SO", "SP", "SR", "SS", "ST", "SW", "SY", "TA", "TD", "TF", "TN", "TQ", "TR", "TS",
    "TW", "UB", "W", "WA", "WC", "WD", "WF", "WN", "WR", "WS", "WV", "YO", "ZE",
))
