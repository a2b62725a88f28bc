"""Which columns of a caseload locate each row: a postcode or address, x and y, or a UPRN.

Headers in any common spelling ("Post Code", "POSTCODE", "postcode "); a column naming a place other
than the current home ("previous postcode", "school postcode") is never chosen by itself; columns a
previous run of heart-geo added are never read as input. No cell content ever reaches a message: a
list of columns gives positions, naming only the columns whose names this tool looks for
(:func:`describe_columns`).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from .errors import InputError
from .settings import RESULT_COLUMNS

_POSTCODE_NAMES = ["postcode", "postcodes", "postalcode", "pcode", "pc", "homepostcode",
                   "addresspostcode", "postcodeofresidence", "zip", "zipcode"]
_ADDRESS_NAMES = ["address", "homeaddress", "fulladdress", "addressline", "addr", "residentialaddress"]
_X_NAMES = ["easting", "eastings", "x", "bngx", "ea", "xcoord"]
_Y_NAMES = ["northing", "northings", "y", "bngy", "no", "ycoord"]
_LON_NAMES = ["longitude", "lon", "long", "lng"]
_LAT_NAMES = ["latitude", "lat"]
_UPRN_NAMES = ["uprn", "propertyuprn", "uprnnumber", "addressuprn", "homeuprn", "chopuprn"]


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


_LOOKS_LIKE_DATA = re.compile(
    r"[A-Za-z]{1,2}[0-9][A-Za-z0-9]?\s*[0-9][A-Za-z]{2}"  # a postcode
    r"|@"  # an e-mail address
    r"|\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}"  # a date
    r"|^\s*[-+]?\d+(\.\d+)?\s*$"  # a number
)


def describe_columns(header: list[str]) -> str:
    """Return the columns for an error message: by position, named only where the name is a word this tool knows.

    A first row can hold a family's details (a file without a header row), so a column's name is shown
    only when it is one of the names the tool looks for ("postcode", "address", "school", "consent"...);
    every other column is given by its position.

    Examples
    --------
    >>> describe_columns(["ref", "Post Code", "Jane Smith"])
    "3 columns: 1, 2 'Post Code', 3 (other names are not shown: a first row can hold a family's details)"
    """
    known = [f"{j + 1} {str(h)!r}" if _key(h) in _KNOWN_NAMES else str(j + 1) for j, h in enumerate(header[:50])]
    more = f" and {len(header) - 50} more" if len(header) > 50 else ""
    hidden = " (other names are not shown: a first row can hold a family's details)" if any(
        _key(h) not in _KNOWN_NAMES for h in header) else ""
    return f"{len(header)} columns: {', '.join(known)}{more}{hidden}"


@dataclass(frozen=True)
class LocationColumns:
    """Which input columns locate each row: a postcode/address column, or x and y (with a CRS)."""

    postcode: int | None = None
    x: int | None = None
    y: int | None = None
    crs: str = "EPSG:27700"
    kind: str = "postcode"  # {"postcode", "address", "points", "uprn"}
    #: Tried in order for rows this one cannot locate (empty or invalid cell): address columns, then
    #: coordinates.
    fallbacks: tuple[LocationColumns, ...] = ()
    #: The file's column names, for details naming the column that answered.
    header: tuple[str, ...] = dataclasses.field(default=(), compare=False, repr=False)
    note: str = ""  # how a choice between several candidate columns was made (column names only)

    def describe(self, header: list[str]) -> str:
        """Describe the columns rows are located from, then the fallbacks, named from ``header``."""
        if self.kind == "points":
            text = f"coordinates from columns {header[self.x]!r}, {header[self.y]!r} ({self.crs})"
        elif self.kind == "uprn":
            text = f"UPRN from column {header[self.postcode]!r} (its own address point)"
        else:
            text = f"{self.kind} from column {header[self.postcode]!r}"
        if self.fallbacks:
            text += "; where empty or invalid, " + ", then ".join(f.describe(header) for f in self.fallbacks)
        return text

    def columns(self, header: list[str]) -> str:
        """Return the column name(s) this reads, for a detail line."""
        if self.kind == "points":
            return f"columns {header[self.x]!r}, {header[self.y]!r}"
        return f"column {header[self.postcode]!r}"


#: Other spellings accepted for the enrolment columns (compared ignoring case and punctuation).
SCHOOL_NAMES = ("school", "schoolname", "seedcode", "schoolseedcode", "schoolattended")
CONSENT_NAMES = ("consentgiven", "consentrecorded", "consented")
RISK_NAMES = ("risk", "riskofharm", "childprotection", "cp", "cprisk", "riskflag")


def find_column(header: list[str], given: str | None, default: str, alternatives: tuple[str, ...] = (), *,
                what: str = "", option: str = "", source: str = "input") -> str | None:
    """Resolve a column name: exactly, then ignoring case/spaces/punctuation, then alternatives.

    A column the user named (``given``) that is not there is an error; a default that is not there
    gives None.
    """
    want = given if given is not None else default
    if want in header:
        return want
    keys = {_key(h): h for h in reversed(header)}
    if _key(want) in keys:
        return keys[_key(want)]
    if given is not None:
        raise InputError(f"{what} column {given!r} ({option}) not found in {source}; "
                         f"{describe_columns(header)}")
    for alt in alternatives:
        if _key(alt) in keys:
            return keys[_key(alt)]
    return None


def find_location_columns(
    header: list[str],
    *,
    postcode: str | None = None,
    x: str | None = None,
    y: str | None = None,
    crs: str | None = None,
    source: str = "input",
    uprn: str | None = None,
    find_uprn: bool = False,
) -> LocationColumns:
    """Find the columns that locate each row, or say clearly why none do.

    Parameters
    ----------
    header : list of str
        Column names as in the file (duplicates allowed: the first is used).
    postcode, x, y : str, optional
        Column names given by the user (matched exactly first, then ignoring case, spaces and
        punctuation).
    crs : str, optional
        CRS of x/y columns; guessed from the names (latitude/longitude -> EPSG:4326) when omitted.
    uprn : str, optional
        A column of UPRNs (address references) given by the user; with ``find_uprn`` one named like
        "UPRN" is found by itself. Rows are then answered from the UPRN's own address point first,
        and a row whose UPRN is missing or unknown from the postcode, address or coordinate columns.

    Raises
    ------
    InputError
        Naming the columns found and what was expected.
    """
    keys = [_key(h) for h in header]

    def find(name: str) -> int:
        if name in header:
            return header.index(name)
        k = _key(name)
        if k and k in keys:
            return keys.index(k)
        raise InputError(f"column {name!r} not found in {source}; {describe_columns(header)}")

    if uprn is not None or find_uprn:
        earlier = previous_result_columns(header)
        ui = find(uprn) if uprn is not None else next(
            (j for j, k in enumerate(keys) if k in _UPRN_NAMES and j not in earlier), None)
        if ui is not None:
            try:
                rest = find_location_columns(header, postcode=postcode, x=x, y=y, crs=crs, source=source)
                chain = (dataclasses.replace(rest, fallbacks=()), *rest.fallbacks)
                note = rest.note
            except InputError:
                chain, note = (), ""
            return LocationColumns(postcode=ui, kind="uprn", fallbacks=tuple(chain), note=note)
    if postcode is not None:
        pi = find(postcode)
        return LocationColumns(postcode=pi, kind="postcode", fallbacks=_fallbacks(
            keys, crs, skip=pi, exclude=_not_home(header, previous_result_columns(header))))
    if x is not None or y is not None:
        if x is None or y is None:
            raise InputError("give both --x-col and --y-col for coordinates")
        xi, yi = find(x), find(y)
        guess = "EPSG:4326" if _key(x) in _LON_NAMES or _key(y) in _LAT_NAMES else "EPSG:27700"
        return LocationColumns(x=xi, y=yi, crs=crs or guess, kind="points")
    earlier = previous_result_columns(header)
    cands = [j for j, k in enumerate(keys) if j not in earlier and (k in _POSTCODE_NAMES or "postcode" in k)]
    i, note = _choose_column(header, cands, "postcode", source) if cands else (None, "")
    found = ([LocationColumns(postcode=i, kind="postcode")] if i is not None else []) + list(
        _fallbacks(keys, crs, skip=i, exclude=_not_home(header, earlier)))
    if found:
        return dataclasses.replace(found[0], fallbacks=tuple(found[1:]), note=note)
    raise InputError(
        f"no location column in {source}: expected a postcode column (e.g. 'postcode', 'Post Code'), "
        f"an address column, or easting/northing or latitude/longitude columns (or name one with "
        f"--postcode-col, or --x-col and --y-col); {describe_columns(header)}"
    )


#: Words in a column name that mark a place other than where the family lives now: such a column
#: is never chosen automatically when another candidate exists, nor alone (name it to use it).
_OTHER_PLACE = ("previous", "prev", "old", "former", "prior", "past", "earlier", "moved", "school",
                "work", "employer", "gp", "surgery", "correspondence", "billing", "forwarding",
                "emergency", "nextofkin", "kin", "placement", "birth", "origin", "pre")
#: Words that mark the current home.
_CURRENT_PLACE = ("current", "home", "present", "now", "residence", "residential", "living", "new",
                  "latest", "curr")


def _words(name: str) -> set[str]:
    return set(re.findall(r"[a-z]+", re.sub(r"([a-z])([A-Z])", r"\1 \2", str(name)).lower()))


def _marks(name: str, words: tuple[str, ...]) -> bool:
    w = _words(name)
    k = _key(name)
    return any(x in w or (len(x) >= 4 and x in k) for x in words)


def _choose_column(header: list[str], cands: list[int], what: str, source: str) -> tuple[int, str]:
    """One column among several that could locate the family, by an explicit rule.

    Columns with the same name: the first (duplicates are kept, the first is used). Otherwise a
    column whose name marks another place (previous, old, school, work...) is never chosen; of the
    rest, one marked current (current, home, present...) or the only one left wins. Anything else
    is ambiguous: an error asking the user to name the column.
    """
    names = [str(header[j]) for j in cands]
    if len(set(names)) == 1 and not _marks(names[0], _OTHER_PLACE):
        note = "" if len(cands) == 1 else (f"{len(cands)} columns are named {names[0]!r}: the first is used")
        return cands[0], note
    other = [j for j in cands if _marks(header[j], _OTHER_PLACE)]
    rest = [j for j in cands if j not in other]
    current = [j for j in rest if _marks(header[j], _CURRENT_PLACE)]
    shown = _safe_names(names)
    pick = current if len(current) == 1 else rest
    if len({str(header[j]) for j in pick}) == 1 and pick:
        others = [str(header[j]) for j in cands if j != pick[0]]
        return pick[0], (f"{len(cands)} columns could hold the {what}: used {str(header[pick[0]])!r}; "
                         f"not {_safe_names(others)} (a column named previous, old, school, work... is never "
                         "chosen automatically); name another with --postcode-col")
    if not rest:
        raise InputError(
            f"the only {what} columns in {source}, {shown}, name a place other than the family's home "
            "(previous, old, school, work...); expected the column of where the family lives: if it is "
            "this one, name it with --postcode-col"
        )
    raise InputError(
        f"{len(cands)} columns in {source} could hold the family's {what}: {shown}; expected one: name "
        "the column of where the family lives now with --postcode-col (or name it 'current ...')"
    )


def _safe_names(names: list[str]) -> str:
    """Column names for a message, unless one looks like data (then only the count)."""
    if any(_LOOKS_LIKE_DATA.search(n) for n in names):
        return f"{len(names)} columns (names not shown: they look like data)"
    return str([n if len(n) <= 60 else n[:57] + "..." for n in names])


_RESULT_KEYS = [_key(c) for c in RESULT_COLUMNS]
#: Column names this tool looks for: the only names a message may show.
_KNOWN_NAMES = frozenset([*_POSTCODE_NAMES, *_ADDRESS_NAMES, *_X_NAMES, *_Y_NAMES, *_LON_NAMES, *_LAT_NAMES,
                          *_UPRN_NAMES, *SCHOOL_NAMES, *CONSENT_NAMES, *RISK_NAMES, "consent", "pupilid",
                          *_RESULT_KEYS])
_SUFFIX = re.compile(r"(heartgeo\d*)+$")


def previous_result_columns(header: list[str]) -> set[int]:
    """Positions of result columns from an earlier run of this tool (its output read again).

    A block is the result columns from ``team`` to ``detail`` in order (and those after them, such
    as ``likely_team``, when they follow), each name as written or with a ``_heart_geo`` suffix:
    outputs of older versions, with fewer columns, are recognised too. They are kept in the output
    as they are, never used to locate a row, and the new result columns get names not yet taken.
    """
    keys = [_SUFFIX.sub("", _key(h)) for h in header]
    core = _RESULT_KEYS.index(_key("detail")) + 1
    out: set[int] = set()
    for i in range(len(keys) - core + 1):
        if keys[i:i + core] == _RESULT_KEYS[:core]:
            m = core
            while m < len(_RESULT_KEYS) and i + m < len(keys) and keys[i + m] == _RESULT_KEYS[m]:
                m += 1
            out.update(range(i, i + m))
    return out


def _address_columns(keys: list[str], skip: int | None, exclude: frozenset[int] = frozenset()) -> list[int]:
    """Return the address columns in file order.

    The usual names first, then any name with "address" in it (never one in ``exclude``: earlier
    results, a previous or other place).
    """
    named = [j for j, k in enumerate(keys) if k in _ADDRESS_NAMES]
    loose = [j for j, k in enumerate(keys) if "address" in k and not any(w in k for w in ("email", "web", "ip"))]
    return [j for j in dict.fromkeys(named + loose) if j != skip and j not in exclude]


def _not_home(header: list[str], earlier: set[int]) -> frozenset[int]:
    """Return the columns never used automatically to locate a row.

    These are result columns of an earlier run, and columns whose names mark a place other than the
    home (previous address, school address...).
    """
    return frozenset(earlier | {j for j, h in enumerate(header) if _marks(str(h), _OTHER_PLACE)})


def _fallbacks(keys: list[str], crs: str | None, *, skip: int | None,
               exclude: frozenset[int] = frozenset()) -> tuple[LocationColumns, ...]:
    """Return the address columns, then easting/northing or longitude/latitude, found from the header.

    The columns in ``exclude`` are never among them.
    """
    out = [LocationColumns(postcode=j, kind="address") for j in _address_columns(keys, skip, exclude)]

    def first(names: list[str]) -> int | None:
        return next((j for n in names for j, k in enumerate(keys) if k == n and j not in exclude), None)

    xi, yi = first(_X_NAMES), first(_Y_NAMES)
    lo, la = first(_LON_NAMES), first(_LAT_NAMES)
    if xi is not None and yi is not None:
        out.append(LocationColumns(x=xi, y=yi, crs=crs or "EPSG:27700", kind="points"))
    elif lo is not None and la is not None:
        out.append(LocationColumns(x=lo, y=la, crs=crs or "EPSG:4326", kind="points"))
    return tuple(out)


def dedupe_names(header: list[str]) -> list[str]:
    """Column names made unique by suffixing repeats (``name``, ``name.1``...)."""
    seen: dict[str, int] = {}
    out = []
    for h in header:
        h = str(h)
        if h in seen:
            seen[h] += 1
            cand = f"{h}.{seen[h]}"
            while cand in seen:
                seen[h] += 1
                cand = f"{h}.{seen[h]}"
            seen[cand] = 0
            out.append(cand)
        else:
            seen[h] = 0
            out.append(h)
    return out
