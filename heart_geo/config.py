"""A council profile's configuration: ``boundaries/<key>.toml`` read once into checked, typed objects.

The TOML is read and checked here, every problem reported at once (values of the wrong type first,
by key; then anything missing, inconsistent or unknown), and turned into frozen dataclasses
(:class:`ProfileConfig` holding :class:`Council`, :class:`Team`, :class:`Service`,
:class:`Override`, :class:`Source`...). Nothing else in the library reads the raw TOML.
"""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from . import _paths
from .errors import ProfileError
from .kinds import SERVICE_KINDS
from .postcodes import normalise_postcode

__all__ = [
    "Council",
    "CouncilWideSchools",
    "Hub",
    "Override",
    "ProfileConfig",
    "School",
    "Service",
    "Source",
    "Team",
    "UnassignedCatchment",
    "list_profiles",
    "profiles_dir",
    "read_config",
]


profiles_dir = _paths.profiles_dir


def list_profiles() -> list[str]:
    """Names of the council profiles shipped in ``boundaries/`` (file stems)."""
    return sorted(p.stem for p in profiles_dir().glob("*.toml"))


# --------------------------------------------------------------------------------------------------
# the typed configuration
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Hub:
    """Where a team is based: a postcode, or an easting and northing (EPSG:27700)."""

    name: str
    postcode: str | None = None
    easting: float | None = None
    northing: float | None = None
    note: str = ""


@dataclass(frozen=True)
class Team:
    """One locality team: its name, catchment schools (seed code -> name) and map colour."""

    name: str
    schools: tuple[tuple[str, str], ...]
    colour: str
    hubs: tuple[Hub, ...] = ()


@dataclass(frozen=True)
class Council:
    """The council: display name, GSS code, what it calls one area, and when the model began."""

    name: str
    code: str
    unit: str = "team"
    effective_from: dt.date | None = None
    model: str = ""
    notes: str = ""


@dataclass(frozen=True)
class Service:
    """A service of the model: in every team (``mode="team"``) or through link workers.

    ``link_workers`` holds, per link worker, the teams it covers.
    """

    name: str
    mode: str
    description: str = ""
    link_workers: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class Override:
    """A place the council decides by hand: ``kind`` {"postcode", "sector", "district", "wkt"}."""

    team: str
    kind: str
    value: str
    reason: str = ""


@dataclass(frozen=True)
class School:
    """A school named in the profile, by its seed code."""

    seed_code: str
    name: str = ""


@dataclass(frozen=True)
class CouncilWideSchools:
    """Schools that serve the whole council (faith and ASN schools)."""

    faith: tuple[School, ...] = ()
    asn: tuple[School, ...] = ()
    asn_from_school_roll: bool = False


@dataclass(frozen=True)
class UnassignedCatchment:
    """A catchment in the council's layer that belongs to no team, with the note shown for it."""

    name: str
    note: str = ""


@dataclass(frozen=True)
class Source:
    """One dataset (``[sources.<key>]``).

    Where its files are found, where it is fetched from, what must be said about it, and, for a
    service dataset (``kind`` given), how to read it.
    """

    key: str
    patterns: tuple[str, ...] = ()
    description: str | None = None
    publisher: str = ""
    licence: str = ""
    attribution: str = ""
    layer: str | None = None
    code_field: str | tuple[str, ...] | None = None
    url: str | None = None
    sha256: str | None = None
    filename: str | None = None
    format: str | None = None
    wfs_layer: str | None = None
    srs: str | None = None
    auth_param: str | None = None
    auth_env: str | None = None
    landing_page: str | None = None
    note: str = ""
    kind: str | None = None
    located_by: str = "postcode"
    kinds: tuple[str, ...] = ()
    active_only: bool = True

    @property
    def is_service(self) -> bool:
        """Whether this is a service dataset (a ``kind`` is given)."""
        return self.kind is not None


@dataclass(frozen=True)
class ProfileConfig:
    """A checked council profile. ``raw`` is the TOML as read (for the loader and ``Profile.config``)."""

    key: str
    path: Path
    council: Council
    teams: tuple[Team, ...]
    services: tuple[Service, ...]
    overrides: tuple[Override, ...]
    sources: dict[str, Source]
    unassigned_catchments: tuple[UnassignedCatchment, ...]
    council_wide_schools: CouncilWideSchools
    practice_models: tuple[str, ...]
    raw: dict = field(repr=False, compare=False)
    text: bytes = field(repr=False, compare=False, default=b"")


def read_config(name: str | os.PathLike) -> ProfileConfig:
    """Read and check a council profile: its key, council name or GSS code, or a TOML path.

    Raises
    ------
    ProfileError
        No such profile, not TOML, or any problem in it (all of them, in one message).
    """
    path = _find_profile(name)
    conf, raw = _parse(path)
    return _typed(path.stem, path, conf, raw)


def _find_profile(name: str | os.PathLike) -> Path:
    path = _paths.named_profile(name)
    if path is not None:
        return path
    # accept a council code or display name
    for cand in profiles_dir().glob("*.toml"):
        try:
            conf = tomllib.loads(cand.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            continue  # reported when that profile itself is loaded
        c = conf.get("council", {})
        if isinstance(c, dict) and str(name) in (c.get("code"), c.get("name")):
            return cand
    raise ProfileError(
        f"no council profile {str(name)!r}; profiles are {list_profiles()} (in {str(profiles_dir())!r})"
    )


def _read_config(name: str | os.PathLike) -> tuple[str, dict, bytes]:
    """``(key, TOML as a dict, file bytes)`` of a profile, checked (see :func:`read_config`)."""
    path = _find_profile(name)
    conf, raw = _parse(path)
    return path.stem, conf, raw


def _parse(path: Path) -> tuple[dict, bytes]:
    raw = path.read_bytes()
    try:
        conf = tomllib.loads(raw.decode("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"profile {str(path)!r} is not valid TOML: {exc}") from None
    _check_config(conf, path)
    return conf, raw


def _typed(key: str, path: Path, conf: dict, raw: bytes) -> ProfileConfig:
    """Return the checked TOML as dataclasses (called only after :func:`_check_config` passed)."""
    c = conf["council"]
    eff = c.get("effective_from")
    cw = conf.get("council_wide_schools", {})
    return ProfileConfig(
        key=key,
        path=path,
        council=Council(c["name"], c["code"], c.get("unit", "team"), eff if isinstance(eff, dt.date) else None,
                        c.get("model", ""), c.get("notes", "")),
        teams=tuple(_team(t) for t in conf["teams"]),
        services=tuple(Service(s["name"], s["mode"], s.get("description", ""),
                               tuple(tuple(lw.get("covers", [])) for lw in s.get("link_workers", [])))
                       for s in conf.get("services", [])),
        overrides=tuple(_override(o) for o in conf.get("overrides", [])),
        sources={k: _source(k, s) for k, s in conf.get("sources", {}).items()},
        unassigned_catchments=tuple(UnassignedCatchment(u["name"], u.get("note", ""))
                                    for u in conf.get("unassigned_catchments", [])),
        council_wide_schools=CouncilWideSchools(
            tuple(School(str(s["seed_code"]), s.get("name", "")) for s in cw.get("faith", [])),
            tuple(School(str(s["seed_code"]), s.get("name", "")) for s in cw.get("asn", [])),
            bool(cw.get("asn_from_school_roll", False)),
        ),
        practice_models=tuple(conf.get("practice_models", {}).get("names", [])),
        raw=conf,
        text=raw,
    )


def _team(t: dict) -> Team:
    hubs = tuple(Hub(str(h["name"]), h.get("postcode"), h.get("easting"), h.get("northing"), h.get("note", ""))
                 for h in t.get("hubs", []))
    schools = tuple((str(s["seed_code"]), s.get("name", "")) for s in t["schools"])
    return Team(t["name"], schools, t.get("colour", "#888888"), hubs)


def _override(o: dict) -> Override:
    kind = next(k for k in _OVERRIDE_KINDS if k in o)
    return Override(o["team"], kind, o[kind], o.get("reason", ""))


def _source(key: str, s: dict) -> Source:
    cf = s.get("code_field")
    return Source(
        key=key, patterns=tuple(s.get("patterns", [])), code_field=tuple(cf) if isinstance(cf, list) else cf,
        kinds=tuple(s.get("kinds", [])), located_by=s.get("located_by", "postcode"),
        active_only=bool(s.get("active_only", True)),
        **{k: s[k] for k in _SOURCE_TEXT if k in s},
    )


# --------------------------------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------------------------------
_STR = (str,)
_STRS = "list of strings"
_TABLES = "list of tables"
_ANY = "checked with its table"  # a known key whose value another check looks at
_DATE = (dt.date,)
_OVERRIDE_KINDS = ("postcode", "sector", "district", "wkt")
_SOURCE_TEXT = ("description", "publisher", "licence", "attribution", "layer", "url", "sha256", "filename",
                "format", "wfs_layer", "srs", "auth_param", "auth_env", "landing_page", "note", "kind")
#: Every key a profile may hold: table path -> {key: expected}, where expected is "list of strings",
#: "list of tables", a tuple of types, or "checked with its table". Any other key is an error.
_SCHEMA: dict[str, dict[str, object]] = {
    "": {"council": (dict,), "teams": _TABLES, "services": _TABLES,
         "overrides": _TABLES, "sources": (dict,), "unassigned_catchments": _TABLES,
         "council_wide_schools": (dict,), "practice_models": (dict,)},
    "council": {"name": _STR, "code": _STR, "unit": _STR, "effective_from": _DATE, "model": _STR, "notes": _STR},
    "teams": {"name": _STR, "schools": _TABLES, "colour": _STR, "hubs": _ANY},
    "teams.schools": {"seed_code": (str, int), "name": _STR, "campus": _STR},
    "services": {"name": _STR, "mode": _STR, "description": _STR, "link_workers": _TABLES},
    "services.link_workers": {"covers": _STRS},
    "overrides": {"team": _STR, "postcode": _STR, "sector": _STR, "district": _STR, "wkt": _STR, "reason": _STR},
    "unassigned_catchments": {"name": _STR, "note": _STR},
    "council_wide_schools": {"faith": _TABLES, "asn": _TABLES, "asn_from_school_roll": (bool,)},
    "council_wide_schools.faith": {"seed_code": (str, int), "name": _STR, "denomination": _STR},
    "council_wide_schools.asn": {"seed_code": (str, int), "name": _STR, "denomination": _STR},
    "practice_models": {"names": _STRS},
    "sources.*": {"patterns": _STRS, "code_field": (str, list), "kinds": _STRS, "active_only": (bool,),
                  "located_by": _STR, **dict.fromkeys(_SOURCE_TEXT, _STR)},
}
#: Keys a table of the profile must have (besides [council] name and code, checked on their own).
_REQUIRED = {"teams": ("name",), "teams.schools": ("seed_code",), "unassigned_catchments": ("name",),
             "council_wide_schools.faith": ("seed_code",), "council_wide_schools.asn": ("seed_code",)}
_HUB_KEYS = {"name", "postcode", "easting", "northing", "note"}
_LOCATED_BY = ("postcode", "coordinates", "none")


def _type_name(v) -> str:
    return {str: "a string", int: "a number", float: "a number", bool: "true/false", list: "a list",
            dict: "a table", dt.date: "a date"}.get(type(v), type(v).__name__)


def _type_problems(conf: dict) -> list[str]:
    """Every value of the wrong type, named by its key (``teams[2].schools``), with what was expected."""
    problems: list[str] = []
    _check_table(conf, "", "", problems)
    return problems


def _check_table(table: dict, schema_key: str, where: str, problems: list[str]) -> None:
    for key, want in _SCHEMA.get(schema_key, {}).items():
        if key in table:
            name = f"{where}.{key}" if where else key
            _check_value(table[key], want, name, f"{schema_key}.{key}" if schema_key else key, problems)
    if schema_key == "" and isinstance(table.get("sources"), dict):
        for k, src in table["sources"].items():
            if not isinstance(src, dict):
                problems.append(f"'sources.{k}' is {_type_name(src)}, expected a table ([sources.{k}])")
            else:
                _check_table(src, "sources.*", f"sources.{k}", problems)


def _check_value(v, want, name: str, sub: str, problems: list[str]) -> None:
    if want == _ANY:
        return
    if want == _TABLES:
        if not isinstance(v, list) or not all(isinstance(x, dict) for x in v):
            problems.append(f"'{name}' is {_type_name(v)}, expected a list of tables ([[{name}]] or [{{ ... }}, ...])")
            return
        for i, x in enumerate(v):
            _check_table(x, sub, f"{name}[{i}]", problems)
    elif want == _STRS:
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            problems.append(f"'{name}' is {_type_name(v)}, expected a list of strings ([\"...\", ...])")
    elif not isinstance(v, want) or (isinstance(v, bool) and bool not in want):
        expected = " or ".join(dict.fromkeys(_type_name(t()) if t is not dt.date else "a date" for t in want))
        problems.append(f"'{name}' is {_type_name(v)}, expected {expected}")
    elif isinstance(v, dict) and sub in _SCHEMA:
        _check_table(v, sub, name, problems)


def _check_config(conf: dict, path: Path) -> None:
    """Report every problem in a profile at once.

    Values of the wrong type first (by key), then what is missing, inconsistent or unknown.
    """
    typed = _type_problems(conf)
    if typed:
        raise ProfileError(f"profile {str(path)!r}: " + "; ".join(typed))
    names = [t.get("name") for t in conf.get("teams", [])]
    problems = [
        *_council_problems(conf),
        *_team_problems(conf, names),
        *_services_problems(conf, names),
        *_override_problems(conf, names),
        *[f"[sources.{src}] needs 'patterns'" for src in ("catchments", "postcodes")
          if not conf.get("sources", {}).get(src, {}).get("patterns")],
        *_unknown_keys(conf),
        *service_config_problems(conf),  # service datasets and team hubs
    ]
    if problems:
        raise ProfileError(f"profile {str(path)!r}: " + "; ".join(problems))


def _council_problems(conf: dict) -> list[str]:
    council = conf.get("council", {})
    problems = [f"[council] needs '{k}'" for k in ("name", "code") if not council.get(k)]
    teams = conf.get("teams", [])
    if not teams:
        problems.append("no [[teams]]")
    return problems


def _team_problems(conf: dict, names: list) -> list[str]:
    problems = []
    if len(set(names)) != len(names):
        problems.append(f"team names repeat: {names}")
    problems += [f"team {t.get('name')!r} has no schools" for t in conf.get("teams", []) if not t.get("schools")]
    return problems


def _services_problems(conf: dict, names: list) -> list[str]:
    problems = []
    for i, s in enumerate(conf.get("services", [])):
        if "name" not in s:
            problems.append(f"services[{i}] needs 'name'")
        extra = set(s) - set(_SCHEMA["services"])
        if extra:
            problems.append(
                f"service {s.get('name')!r} has unknown keys {sorted(extra)} (a top-level key written "
                "after a [[services]] table belongs to that service in TOML: move it above the tables)"
            )
        mode = s.get("mode")
        if mode not in ("team", "link_worker"):
            problems.append(f"service {s.get('name')!r}: mode {mode!r}, expected 'team' or 'link_worker'")
        problems += _link_worker_problems(s, names)
    return problems


def _link_worker_problems(s: dict, names: list) -> list[str]:
    problems = []
    for lw in s.get("link_workers", []):
        extra = sorted(set(lw) - set(_SCHEMA["services.link_workers"]))
        if extra:
            problems.append(f"service {s.get('name')!r}: link worker has unknown keys {extra} (expected ['covers'])")
        bad = [c for c in lw.get("covers", []) if c not in names]
        if bad:
            problems.append(f"service {s.get('name')!r}: link worker covers unknown teams {bad}")
    return problems


def _override_problems(conf: dict, names: list) -> list[str]:
    problems = []
    for o in conf.get("overrides", []):
        if o.get("team") not in names:
            problems.append(f"override {o}: team {o.get('team')!r} is not one of {names}")
        if len([k for k in _OVERRIDE_KINDS if k in o]) != 1:
            problems.append(f"override {o}: give exactly one of postcode, sector, district, wkt")
    return problems


def _unknown_keys(conf: dict) -> list[str]:
    """Keys the profile format does not have, and keys a table must have.

    Services and hubs are checked with their tables.
    """
    problems: list[str] = []
    _walk_unknown(conf, "", "", problems)
    for key, src in conf.get("sources", {}).items():
        extra = set(src) - set(_SCHEMA["sources.*"])
        if extra:
            problems.append(f"[sources.{key}] has unknown keys {sorted(extra)}")
    return problems


def _walk_unknown(table: dict, schema_key: str, where: str, problems: list[str]) -> None:
    schema = _SCHEMA[schema_key]
    extra = sorted(set(table) - set(schema))
    if extra:
        problems.append(f"{where or 'the profile'} has unknown keys {extra} (expected some of {sorted(schema)})")
    problems += [f"{where} needs '{k}'" for k in _REQUIRED.get(schema_key, ()) if k not in table]
    for key, want in schema.items():
        sub = f"{schema_key}.{key}" if schema_key else key
        if sub == "services" or sub not in _SCHEMA or key not in table:
            continue
        name = f"{where}.{key}" if where else key
        if want == _TABLES:
            for i, x in enumerate(table[key]):
                _walk_unknown(x, sub, f"{name}[{i}]", problems)
        else:
            _walk_unknown(table[key], sub, name, problems)


def service_config_problems(conf: dict) -> list[str]:
    """Problems in a profile's service sources and team hubs (called when a profile is read)."""
    problems = []
    for key, src in conf.get("sources", {}).items():
        if "kind" in src or "located_by" in src:  # a service dataset
            problems += _service_source_problems(key, src)
    for t in conf.get("teams", []):
        hubs = t.get("hubs", [])
        if not isinstance(hubs, list):
            problems.append(f"team {t.get('name')!r}: hubs must be a list of {{ name = ..., postcode = ... }}")
            continue
        for i, h in enumerate(hubs, 1):
            problems += _hub_problems(f"team {t.get('name')!r} hub {i}", h)
    return problems


def _service_source_problems(key: str, src: dict) -> list[str]:
    from .sources import SERVICE_READERS  # geopandas and GDAL: loaded only when a profile lists a service dataset

    problems = []
    if src.get("kind") not in SERVICE_READERS:
        problems.append(f"[sources.{key}] kind {src.get('kind')!r}, expected one of {sorted(SERVICE_READERS)}")
    if src.get("located_by") not in _LOCATED_BY:
        problems.append(f"[sources.{key}] located_by {src.get('located_by')!r}, expected one of "
                        f"{list(_LOCATED_BY)}")
    problems += [f"[sources.{key}] needs '{k}'" for k in ("licence", "attribution", "patterns") if not src.get(k)]
    bad = [k for k in src.get("kinds", []) if k not in SERVICE_KINDS]
    if bad:
        problems.append(f"[sources.{key}] kinds {bad} unknown; kinds are {sorted(SERVICE_KINDS)}")
    return problems


def _hub_problems(where: str, h) -> list[str]:
    if not isinstance(h, dict):
        return [f"{where}: expected {{ name = ..., postcode = ... }}"]
    problems = []
    extra = set(h) - _HUB_KEYS
    if extra:
        problems.append(f"{where}: unknown keys {sorted(extra)} (expected {sorted(_HUB_KEYS)})")
    if not str(h.get("name", "")).strip():
        problems.append(f"{where}: needs a name")
    has_pc, has_xy = "postcode" in h, "easting" in h or "northing" in h
    if has_pc == has_xy:
        problems.append(f"{where}: give a postcode, or easting and northing (EPSG:27700), not both")
    elif has_pc and normalise_postcode(str(h["postcode"])) is None:
        problems.append(f"{where}: postcode {h['postcode']!r} is not a postcode")
    elif has_xy and not all(isinstance(h.get(k), int | float) for k in ("easting", "northing")):
        problems.append(f"{where}: easting and northing must both be numbers (metres, EPSG:27700)")
    return problems
