"""Schools and cross-locality links.

A family is supported by the team where it lives, not where the child goes to school. Schools that
serve the whole council (faith schools, ASN/special schools) mostly teach children who live in other
teams' localities: each such pupil is a **cross-locality link** that the school's staff and the home
team must keep. This module finds them and builds the school-to-team link table.

The consent rule: information passes between services only with consent, except where not sharing
would put a child at risk of harm. So the family-level detail (one row per child) is released only for
rows marked with recorded consent or a risk-of-harm flag; every other row counts in the totals only.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import InputError

__all__ = [
    "EnrolmentColumns",
    "LinkReport",
    "council_wide_links",
    "enrolment_links",
    "links_from_enrolments",
    "read_enrolments",
    "school_localities",
]

#: Values that mark recorded consent or a risk-of-harm flag (after trimming and lower-casing).
_TRUE = {"y", "yes", "true", "t", "1", "x", "consent", "consented", "given", "recorded", "✓", "✔"}
#: Values that clearly mark no consent / no flag. Anything else that is not empty is *unclear*: it is
#: treated as no (never released) and counted in the summary so someone can check the column.
_FALSE = {"", "n", "no", "false", "f", "0", "none", "not recorded", "not given", "refused", "declined",
          "withdrawn", "-", "n/a", "na", "unknown", "✗", "✘"}


def school_localities(profile):
    """Every school in the council with the team of the locality it stands in.

    Returns
    -------
    geopandas.GeoDataFrame
        School roll columns plus ``team``, ``status`` (of the school's own location),
        ``kind`` ({"secondary", "primary", "faith", "asn"}) and ``council_wide`` (serves the whole
        council: faith and ASN schools named in the profile).
    """
    schools = profile.schools
    if schools is None:
        raise InputError(f"profile {profile.key!r} has no school data in {str(profile.data_dir)!r}")
    res = profile.allocate_points(schools["easting"].to_numpy(), schools["northing"].to_numpy())
    out = schools.copy()
    out["team"] = res["team"].astype(object).to_numpy()
    out["status"] = res["status"].astype(str).to_numpy()
    faith, asn = _council_wide_codes(profile)
    kind = np.where(out["school_type"].str.lower() == "special", "asn",
                    out["school_type"].str.lower().fillna("other"))
    kind = np.where(out["seed_code"].isin(faith), "faith", kind)
    kind = np.where(out["seed_code"].isin(asn), "asn", kind)
    out["kind"] = kind
    out["council_wide"] = out["seed_code"].isin(faith | asn)
    return out


def _council_wide_codes(profile) -> tuple[set, set]:
    cw = profile.council_wide_schools
    faith = {s.seed_code for s in cw.faith}
    asn = {s.seed_code for s in cw.asn}
    if cw.asn_from_school_roll and profile.schools is not None:
        sp = profile.schools[profile.schools["school_type"].str.lower() == "special"]
        asn |= set(sp["seed_code"])
    return faith, asn


def council_wide_links(profile) -> pd.DataFrame:
    """Return the school-to-team link table from the schools' council-wide role alone.

    Each faith or ASN school serves the whole council, so it links with every team. Use
    :func:`links_from_enrolments` to get the teams its pupils actually live in, with counts.
    """
    s = school_localities(profile)
    cw = s[s["council_wide"]]
    rows = []
    for _, r in cw.iterrows():
        for team in profile.team_names:
            rows.append({
                "school": r["name"], "seed_code": r["seed_code"], "kind": r["kind"],
                "school_team": r["team"], "links_with": team, "same_locality": team == r["team"],
            })
    return pd.DataFrame(rows)


@dataclass
class LinkReport:
    """Result of :func:`links_from_enrolments`.

    Attributes
    ----------
    summary : dict
        Counts only: ``rows``, ``cross_locality``, ``council_wide_pupils``, ``unknown_school``,
        ``no_home_team``, ``released`` (= ``released_consent`` + ``released_risk_of_harm``),
        ``withheld``, ``consent_column`` / ``risk_column`` (whether the column was there),
        ``consent_unclear`` / ``risk_unclear`` (values neither clearly yes nor clearly no: treated as
        no, counted so someone can check them), ``consent_conflicts`` / ``risk_conflicts`` (rows
        withheld on that ground because two columns recording it, or two rows of the same pupil,
        disagree), ``rows_of_repeated_pupils`` (rows of pupils listed more than once).
    links : pandas.DataFrame
        For each council-wide school and each team its pupils live in: ``pupils`` (count). Who must
        link with whom.
    detail : pandas.DataFrame
        Family-level rows released under the consent rule only: ``row`` (1-based row of the input),
        the input's columns, ``link_*`` columns and ``shared_because`` ({"consent", "risk_of_harm"}).
        A row with both is shared because of ``risk_of_harm``: that ground holds whatever the state
        of consent.
    withheld : int
        Rows that count in ``links`` but are not in ``detail`` (no consent, no risk flag).
    disclosure : str
        How the counts in ``links`` and ``summary`` were protected (see :mod:`heart_geo.disclosure`):
        by default counts of 1 to 4 show as ``<5``; with ``suppress=False`` it says they are exact
        and for internal use only.
    """

    summary: dict
    links: pd.DataFrame
    detail: pd.DataFrame
    withheld: int
    disclosure: str = ""


def _flags(col: pd.Series | None, n: int) -> tuple[np.ndarray, int]:
    """Return (marked yes, number of unclear values) for a consent or risk column; None means no column."""
    if col is None:
        return np.zeros(n, bool), 0
    yes, unclear = _read_flags(col)
    return yes, int(unclear.sum())


def _read_flags(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Return (clearly yes, unclear) per row of one consent or risk column."""
    text = col.astype(object).where(col.notna(), "").astype(str).str.strip().str.lower()
    text = text.str.replace(r"^(-?\d+)\.0+$", r"\1", regex=True)  # 1.0 from a spreadsheet
    yes = text.isin(_TRUE).to_numpy()
    return yes, ~yes & ~text.isin(_FALSE).to_numpy()


def _same_columns(df: pd.DataFrame, col: str | None, alternatives: tuple[str, ...]) -> list:
    """Return the column ``col`` and every other column that records the same thing.

    That is the same name repeated (``consent``, ``consent.1``), another spelling or an accepted
    alternative name.
    """
    from .caseload import _key

    if col is None or col not in df.columns:
        return []
    own = _key(re.sub(r"\.\d+$", "", str(col)))
    alts = {_key(a) for a in alternatives}
    base = {own} | (alts if own in alts else set())  # a named column of its own: only its repeats
    return [c for c in df.columns if _key(re.sub(r"\.\d+$", "", str(c))) in base]


def _combined_flags(df: pd.DataFrame, cols: list, n: int, pupil_key: np.ndarray | None
                    ) -> tuple[np.ndarray, int, int]:
    """Return (yes, unclear rows, conflicting rows) for one ground (consent or risk).

    Taken over every column that records it and every row of the same pupil.

    The safe side: a row counts as yes only if every column recording the ground says yes, and
    every other row of the same pupil agrees. Any disagreement withholds the row on that ground and
    counts it as a conflict; the first value seen never decides.
    """
    if not cols:
        return np.zeros(n, bool), 0, 0
    per = [_read_flags(df[c]) for c in cols]
    yes_all = np.logical_and.reduce([y for y, _ in per])
    yes_any = np.logical_or.reduce([y for y, _ in per])
    unclear = np.logical_or.reduce([u for _, u in per])
    conflict = yes_any & ~yes_all
    yes = yes_all.copy()
    if pupil_key is not None and n:
        codes = pd.factorize(pd.Series(pupil_key, dtype=object))[0]
        size = np.bincount(codes)
        n_yes = np.bincount(codes, weights=yes.astype(float))
        mixed = (size > 1) & (n_yes > 0) & (n_yes < size)
        disagree = mixed[codes]
        conflict |= disagree & yes_any
        yes &= ~disagree
    return yes, int(unclear.sum()), int(conflict.sum())


#: Column names that identify a pupil (compared ignoring case and punctuation).
PUPIL_ID_NAMES = ("pupilid", "scn", "scottishcandidatenumber", "candidatenumber", "childid", "studentid",
                  "upn", "pupilnumber", "personid", "clientid", "id")


def _pupil_key(df: pd.DataFrame, flag_cols: list) -> np.ndarray | None:
    """Return which rows are the same pupil.

    Told by an identifier column when there is one, else by every column other than the consent and
    risk columns (rows alike in all of them are one pupil twice).
    """
    from .caseload import _key

    for name in PUPIL_ID_NAMES:
        for c in df.columns:
            if _key(c) == name:
                ids = df[c].astype(object).where(df[c].notna(), "").astype(str).str.strip()
                blank = ids.eq("").to_numpy()
                # a row with no identifier is its own pupil
                return np.where(blank, "\x00row" + pd.Series(np.arange(len(df))).astype(str).to_numpy(),
                                ids.to_numpy())
    rest = [c for c in df.columns if c not in flag_cols]
    if not rest:
        return None
    parts = df[rest].astype(object).where(df[rest].notna(), "").astype(str)
    return parts.agg("\x1f".join, axis=1).to_numpy(dtype=object)


def _truthy(col: pd.Series) -> np.ndarray:
    return _flags(col, len(col))[0]


def links_from_enrolments(
    profile,
    enrolments: pd.DataFrame,
    *,
    school: str = "school",
    postcode: str | None = "postcode",
    x: str | None = None,
    y: str | None = None,
    crs: str = "EPSG:27700",
    consent: str | None = "consent",
    risk: str | None = "risk_of_harm",
    suppress: bool = True,
) -> LinkReport:
    """Flag pupils whose school stands in another locality and build the link table.

    Parameters
    ----------
    profile : Profile
    enrolments : pandas.DataFrame
        One row per pupil: a school (seed code or name) and a home location (postcode or
        coordinates).
    school, postcode, x, y : str
        Column names, matched ignoring case, spaces and punctuation ("School", "Post Code"). Give
        ``postcode``, or ``x`` and ``y`` (with ``crs``). A column named here that is not in the table
        is an error; left at its default, the usual other spellings are tried (for the postcode,
        an address or coordinate column as ``heart-geo assign`` finds them).
    consent, risk : str or None
        Columns marking recorded consent and a child-protection risk-of-harm flag ("yes", "y", "true",
        "1", "x"...), matched as above; None for no such column. Left at the default and not found,
        a warning says no row is released on that ground. Any value not clearly yes ("Yes - verbal",
        "pending"...) counts as no and is counted in ``summary`` as unclear.
    suppress : bool
        Disclosure control (default): counts of 1 to 4 in ``links`` and ``summary`` show as ``<5``,
        with secondary suppression (:mod:`heart_geo.disclosure`). False for exact counts, internal
        use only.

    Returns
    -------
    LinkReport

    Examples
    --------
    >>> from heart_geo.testing import make_profile
    >>> p = make_profile()
    >>> e = pd.DataFrame({"school": ["8000009"], "postcode": ["TT1 1AA"], "consent": ["yes"]})
    >>> r = links_from_enrolments(p, e)
    >>> r.links[["school", "team", "pupils"]].to_dict("records")  # 1 pupil: suppressed
    [{'school': 'St Test RC Academy', 'team': 'North', 'pupils': '<5'}]
    >>> links_from_enrolments(p, e, suppress=False).links["pupils"].tolist()
    [1]
    """
    if enrolments.columns.duplicated().any():
        from .caseload import dedupe_names

        enrolments = enrolments.copy()
        enrolments.columns = dedupe_names([str(c) for c in enrolments.columns])
    school, postcode, x, y, consent, risk = _resolve_columns(enrolments, school, postcode, x, y, consent, risk)
    for what, col in (("consent", consent), ("risk", risk)):
        if col is not None and col in (school, postcode, x, y):
            raise InputError(f"the {what} column {col!r} is also the school or location column")
    if x is not None and y is not None:
        home = profile.allocate_points(enrolments[x].to_numpy(), enrolments[y].to_numpy(), crs=crs)
    else:
        home = profile.allocate(enrolments[postcode].tolist())
    schools = school_localities(profile)
    by_code = {str(c): i for i, c in enumerate(schools["seed_code"])}
    by_name = {str(n).strip().lower(): i for i, n in enumerate(schools["name"])}
    keys = enrolments[school].fillna("").astype(str).str.strip()
    keys = keys.str.replace(r"\.0$", "", regex=True)
    idx = np.array([by_code.get(k, by_name.get(k.lower(), -1)) for k in keys])
    found = idx >= 0
    take = np.maximum(idx, 0)
    n = len(enrolments)
    pupils = pd.DataFrame({
        "row": np.arange(1, n + 1),
        "school": np.where(found, schools["name"].to_numpy()[take], None),
        "seed_code": np.where(found, schools["seed_code"].to_numpy()[take], None),
        "kind": np.where(found, schools["kind"].to_numpy()[take], None),
        "council_wide": np.where(found, schools["council_wide"].to_numpy()[take], False).astype(bool),
        "school_team": np.where(found, schools["team"].to_numpy()[take], None),
        "home_team": home["team"].astype(object).to_numpy(),
        "home_status": home["status"].astype(str).to_numpy(),
        "school_status": np.where(found, "found", "unknown_school"),
    })
    both = found & pupils["home_team"].notna().to_numpy() & pupils["school_team"].notna().to_numpy()
    pupils["cross_locality"] = both & (pupils["home_team"] != pupils["school_team"]).to_numpy()
    cw = pupils[pupils["council_wide"] & pupils["home_team"].notna()]
    links = (
        cw.groupby(["school", "seed_code", "kind", "school_team", "home_team"], dropna=False)
        .size().rename("pupils").reset_index().rename(columns={"home_team": "team"})
    )
    links["same_locality"] = links["team"] == links["school_team"]
    links = links.sort_values(["school", "pupils"], ascending=[True, False]).reset_index(drop=True)
    from .caseload import CONSENT_NAMES, RISK_NAMES, unique_name

    consent_cols = _same_columns(enrolments, consent, (*CONSENT_NAMES, "consent"))
    risk_cols = _same_columns(enrolments, risk, (*RISK_NAMES, "risk_of_harm"))
    key = _pupil_key(enrolments, consent_cols + risk_cols)
    has_consent, consent_unclear, consent_conflicts = _combined_flags(enrolments, consent_cols, n, key)
    has_risk, risk_unclear, risk_conflicts = _combined_flags(enrolments, risk_cols, n, key)
    repeated = int(pd.Series(key, dtype=object).duplicated(keep=False).sum()) if key is not None else 0
    release = has_consent | has_risk
    detail = enrolments[release].copy()
    taken = {str(c) for c in detail.columns}

    def free(name: str) -> str:  # never overwrite an input column of the same name
        return unique_name(name, taken)

    detail.insert(0, free("row"), np.flatnonzero(release) + 1)
    for c in ("school", "school_team", "home_team", "home_status", "cross_locality"):
        detail[free(f"link_{c}")] = pupils[c].to_numpy()[release]
    detail[free("shared_because")] = np.where(has_risk[release], "risk_of_harm", "consent")
    summary = {
        "rows": n,
        "cross_locality": int(pupils["cross_locality"].sum()),
        "council_wide_pupils": int(pupils["council_wide"].sum()),
        "unknown_school": int((~found).sum()),
        "no_home_team": int(pupils["home_team"].isna().sum()),
        "released": int(release.sum()),
        "released_consent": int((has_consent & ~has_risk).sum()),
        "released_risk_of_harm": int(has_risk.sum()),
        "withheld": int((~release).sum()),
        "consent_column": bool(consent and consent in enrolments.columns),
        "risk_column": bool(risk and risk in enrolments.columns),
        "consent_unclear": consent_unclear,
        "risk_unclear": risk_unclear,
        "consent_conflicts": consent_conflicts,
        "risk_conflicts": risk_conflicts,
        "rows_of_repeated_pupils": repeated,
    }
    from . import disclosure

    if suppress:
        links = disclosure.suppress_frame(links, "pupils", by=[("school",), ("team",), ()])
        summary = disclosure.suppress_summary(
            summary, counts=_SUMMARY_COUNTS,
            totals=[("rows", ["released", "withheld"]), ("released", ["released_consent", "released_risk_of_harm"])])
    summary["disclosure"] = disclosure.note(suppress)
    return LinkReport(summary=summary, links=links, detail=detail.reset_index(drop=True),
                      withheld=int((~release).sum()), disclosure=disclosure.note(suppress))


#: Summary keys that count pupils (suppressed under disclosure control).
_SUMMARY_COUNTS = ("rows", "cross_locality", "council_wide_pupils", "unknown_school", "no_home_team", "released",
                   "released_consent", "released_risk_of_harm", "withheld", "consent_unclear", "risk_unclear")


def _resolve_columns(df: pd.DataFrame, school, postcode, x, y, consent, risk):
    """Column arguments matched to the table's columns (ignoring case, spaces and punctuation).

    A name given that is not there is an error; a default that is not there falls back to the usual
    spellings, and for consent/risk to none, with a warning.
    """
    from .caseload import CONSENT_NAMES, RISK_NAMES, SCHOOL_NAMES, describe_columns, find_column, find_location_columns

    header = [str(c) for c in df.columns]

    def col(name, default, alts, what):
        if name is None:
            return None
        return find_column(header, None if name == default else name, default, alts, what=what,
                           option=f"{what}=", source="the enrolment table")

    s = col(school, "school", SCHOOL_NAMES, "school")
    if s is None:
        raise InputError(f"enrolment table has no school column {school!r}; {describe_columns(header)}")
    if x is not None or y is not None:
        if x is None or y is None:
            raise InputError("give both x and y columns for coordinates")
        x, y = col(x, None, (), "x"), col(y, None, (), "y")
        pc = None
    else:
        pc = col(postcode, "postcode", (), "postcode")
        if pc is None:
            if postcode is not None and postcode != "postcode":  # pragma: no cover - find_column raised
                raise InputError(f"enrolment table has no column {postcode!r}")
            try:
                loc = find_location_columns(header, source="the enrolment table")
            except InputError:
                raise InputError("enrolment table has no home location: expected a postcode column "
                                 f"{postcode!r}, an address column or x/y columns; "
                                 f"{describe_columns(header)}") from None
            if loc.kind == "points":
                x, y = header[loc.x], header[loc.y]
            else:
                pc = header[loc.postcode]
    found = []
    for name, default, alts, what in ((consent, "consent", CONSENT_NAMES, "consent"),
                                      (risk, "risk_of_harm", RISK_NAMES, "risk")):
        c = col(name, default, alts, what)
        if c is None and name is not None:
            warnings.warn(f"no {what} column in the enrolment table (looked for {name!r} and the usual "
                          f"spellings): no row is released on the ground of {what.replace('risk', 'risk of harm')}",
                          UserWarning, stacklevel=3)
        found.append(c)
    return s, pc, x, y, found[0], found[1]


# --------------------------------------------------------------------------------------------------
# an enrolment file, read once for the command line (heart-geo links --enrolments) and the dashboard
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EnrolmentColumns:
    """The columns of an enrolment file that :func:`links_from_enrolments` reads.

    Attributes
    ----------
    school : str
        School seed code or name.
    postcode : str or None
        Home postcode or address; None when the home is given by ``x`` and ``y`` (in ``crs``).
    consent, risk : str or None
        Recorded consent and the risk-of-harm flag; None when the file has no such column, so no
        row is released on that ground.
    """

    school: str
    postcode: str | None = None
    x: str | None = None
    y: str | None = None
    crs: str = "EPSG:27700"
    consent: str | None = None
    risk: str | None = None

    def kwargs(self) -> dict:
        """Keyword arguments of :func:`links_from_enrolments` for these columns."""
        loc = ({"postcode": None, "x": self.x, "y": self.y, "crs": self.crs} if self.postcode is None
               else {"postcode": self.postcode})
        return {"school": self.school, "consent": self.consent, "risk": self.risk, **loc}


def read_enrolments(
    src,
    *,
    name: str | None = None,
    sheet: str | int | None = None,
    max_rows: int | None = None,
    school: str | None = None,
    postcode: str | None = None,
    consent: str | None = None,
    risk: str | None = None,
    options: dict[str, str] | None = None,
) -> tuple[pd.DataFrame, EnrolmentColumns]:
    """Read an enrolment file (CSV or .xlsx; a path, bytes or a binary file) and find its columns.

    Parameters
    ----------
    src : path, bytes or binary file-like
        One row per pupil.
    name : str, optional
        The file's name, for messages (default: the path's name).
    sheet, max_rows
        As :func:`heart_geo.caseload.read_caseload_frame`.
    school, postcode, consent, risk : str, optional
        Column names given by the user (an error when not there). Left out, they are found from
        the header as ``heart-geo assign`` finds them: the school by its usual spellings, the home
        by a postcode, address or coordinate column, consent and risk of harm by theirs (or none).
    options : dict, optional
        The command-line option of each argument (``{"school": "--school-col", ...}``), named in
        the messages.

    Returns
    -------
    (pandas.DataFrame, EnrolmentColumns)
        The file as strings (duplicate column names suffixed) and the columns to read.

    Raises
    ------
    InputError
        No school column, no home location, or a column named that is not there.
    """
    from . import caseload as cl

    opt = options or {}
    source = cl.source_label(src, name)
    df = cl.read_caseload_frame(src, name=name, sheet=sheet, max_rows=max_rows)
    header = [str(c) for c in df.columns]
    scol = cl.find_column(header, school, "school", cl.SCHOOL_NAMES, what="school", option=opt.get("school", ""),
                          source=source)
    if scol is None:
        hint = f" or name one with {opt['school']}" if opt.get("school") else ""
        raise InputError(f"no school column in {source}: expected 'school' (a seed code or name){hint}; "
                         f"{cl.describe_columns(header)}")
    if postcode is not None:
        home: dict = {"postcode": cl.find_column(header, postcode, "postcode", what="postcode",
                                                 option=opt.get("postcode", ""), source=source)}
    else:
        loc = cl.find_location_columns(header, source=source)
        home = ({"x": header[loc.x], "y": header[loc.y], "crs": loc.crs} if loc.kind == "points"
                else {"postcode": header[loc.postcode]})
    flags = {
        key: cl.find_column(header, given, default, alts, what=what, option=opt.get(key, ""), source=source)
        for key, given, default, alts, what in (("consent", consent, "consent", cl.CONSENT_NAMES, "consent"),
                                                ("risk", risk, "risk_of_harm", cl.RISK_NAMES, "risk-of-harm"))
    }
    return df, EnrolmentColumns(school=scol, **home, **flags)


def enrolment_links(profile, src, *, name: str | None = None, sheet: str | int | None = None,
                    max_rows: int | None = None, suppress: bool = True, **columns) -> LinkReport:
    r"""Return the cross-locality links of an enrolment file.

    :func:`read_enrolments`, then :func:`links_from_enrolments` (the consent rule applied; counts of
    1-4 shown as <5 unless ``suppress=False``).

    ``columns`` are :func:`read_enrolments`'s ``school``, ``postcode``, ``consent``, ``risk`` and
    ``options``. The report's ``detail`` holds only rows released under the consent rule.

    Examples
    --------
    >>> from heart_geo.testing import make_profile
    >>> data = b"School,Post Code,Consent\r\n8000009,TT1 1AA,yes\r\n"
    >>> r = enrolment_links(make_profile(), data, name="enrolments.csv", suppress=False)
    >>> r.links[["school", "team", "pupils"]].to_dict("records")
    [{'school': 'St Test RC Academy', 'team': 'North', 'pupils': 1}]
    >>> r.detail["shared_because"].tolist()
    ['consent']
    """
    df, cols = read_enrolments(src, name=name, sheet=sheet, max_rows=max_rows, **columns)
    return links_from_enrolments(profile, df, suppress=suppress, **cols.kwargs())
