"""HEART locality teams: the map dashboard.

Run with ``heart-geo dashboard`` (or ``streamlit run app/dashboard.py`` in a source checkout). The council profile comes
from the sidebar; its default is ``$HEART_GEO_PROFILE`` (a profile name or the path of a profile
TOML), the data folder is ``$HEART_GEO_DATA``. Thin layout only: everything it shows is computed by
``heart_geo``: the map by ``heart_geo.explore``, the answers by ``heart_geo.answers``, the uploads and
downloads by ``heart_geo.uploads`` (the functions the command line runs).

Uploaded files are read in memory only: never written to disk, never logged.
"""

from __future__ import annotations

import gc
import html
import os
from pathlib import Path

import pandas as pd
import streamlit as st

import heart_geo
from heart_geo import _ready, answers, disclosure, explore, uploads
from heart_geo._util import counted
from heart_geo.app import mapview
from heart_geo.app.gate import gate
from heart_geo.caseload import csv_bytes, neutralise_formulas
from heart_geo.codes import distance_words
from heart_geo.escape import md_text as md
from heart_geo.settings import UPLOAD_MAX_MB

st.set_page_config(page_title="HEART locality teams", page_icon="🗺️", layout="wide")
gate()  # sign-in (when configured) or this machine only: nothing below runs for anyone else

#: Streamlit's captions are grey at 3.9:1 on white; WCAG 2.2 AA asks 4.5:1 for text this size (issue 20).
CONTRAST_CSS = "<style>[data-testid='stCaptionContainer']{color:#545454 !important;opacity:1 !important}</style>"
st.html(CONTRAST_CSS)

PRIVACY = (
    "Uploaded files are read in this server's memory only: they are **not saved to disk, not "
    "logged**, and are dropped when you upload another file, leave the tab or close the page."
)


# --------------------------------------------------------------------------------------------------
# cached data
# --------------------------------------------------------------------------------------------------
# Everything below is built once per profile and data release and shared by every session (the
# ``stamp`` changes with a new release in the data folder or an edited profile); a session keeps only
# its own answers and uploads (issue 20).
def _kept(value, *, collect: bool = True):
    """Return ``value``, with everything the server holds moved out of the garbage collector's way.

    Streamlit collects garbage after every script run (``runner.postScriptGC``): a full collection
    walks every object the process holds, the loaded profile and map layers included, which was tens
    of milliseconds of server CPU per new session and per lookup (issue 20). What is held when a
    shared cache entry is built is moved to the collector's permanent generation (``gc.freeze``);
    it is unfrozen and collected first (unless ``collect`` is false: a full collection costs as much
    as the ones saved), so what an earlier cache entry left behind is still freed.
    """
    if collect:
        gc.unfreeze()
        gc.collect()
    gc.freeze()
    return value


@st.cache_data(ttl=30, show_spinner=False)
def get_stamp(name: str, data_dir: str | None) -> str:
    """Return the digest of the profile, the data folder and the code (looked at every 30 s at most)."""
    return _ready.data_stamp(name, data_dir) or ""


@st.cache_resource(show_spinner="Loading the council's data…", max_entries=4)
def get_profile(name: str, data_dir: str | None, stamp: str) -> heart_geo.Profile:  # noqa: ARG001 - the cache key
    """Load the council profile (once per profile and data release, for every session)."""
    return _kept(heart_geo.load_profile(name, data_dir=data_dir or None))


@st.cache_resource(show_spinner=False, max_entries=8)
def get_team_details(name: str, data_dir: str | None, stamp: str) -> list[dict]:
    """Return the details of every team of the profile (cached)."""
    return answers.team_details(get_profile(name, data_dir, stamp))


@st.cache_resource(show_spinner=False, max_entries=8)
def get_data_notes(name: str, data_dir: str | None, stamp: str) -> dict:
    """Return the notes on the data behind the answers (cached)."""
    return answers.data_notes(get_profile(name, data_dir, stamp))


@st.cache_resource(show_spinner=False, max_entries=8)
def get_council_wide_links(name: str, data_dir: str | None, stamp: str) -> pd.DataFrame:
    """Return the school-to-team links of the council-wide schools (cached)."""
    return heart_geo.council_wide_links(get_profile(name, data_dir, stamp))


@st.cache_resource(show_spinner="Preparing the file…", max_entries=8)
def get_export(name: str, data_dir: str | None, stamp: str, fmt: str) -> bytes:
    """Public data only (boundaries, postcodes, schools): safe to keep in the server's cache."""
    return uploads.export_bytes(get_profile(name, data_dir, stamp), fmt)


@st.cache_resource(show_spinner="Drawing the map…", max_entries=32)
def get_map(name: str, data_dir: str | None, stamp: str, highlight: str | None) -> mapview.MapPayload:
    """Return the map rendered for the map component, with ``highlight`` drawn stronger (shared by every session)."""
    return _kept(mapview.map_payload(explore.coverage_map(get_profile(name, data_dir, stamp),
                                                          highlight_team=highlight)), collect=False)


def count(v) -> str:
    """Return a count for the page: 1,234, or "<5" / "*" when suppressed."""
    return f"{v:,}" if isinstance(v, int) else str(v)


#: Uploads are read by content: any file is accepted by the widget, and one that is not a CSV or an
#: .xlsx workbook gets a message saying why (the widget's own type filter shows only a red icon).
UPLOAD_HELP = "CSV (comma, semicolon or tab separated) or an Excel workbook (.xlsx, first sheet)."


@st.cache_resource(show_spinner=False, max_entries=8)
def get_service_counts(name: str, data_dir: str | None, stamp: str) -> pd.DataFrame:
    """Return the counts of services present per team and kind (cached)."""
    return answers.service_counts_table(get_profile(name, data_dir, stamp))


def profile_label(name: str) -> str:
    """Return a profile's name for people: "south_ayrshire.toml" -> "South Ayrshire"."""
    return Path(name).stem.replace("_", " ").title()


# --------------------------------------------------------------------------------------------------
# profile
# --------------------------------------------------------------------------------------------------
default_profile = os.environ.get("HEART_GEO_PROFILE", "east_ayrshire").strip() or "east_ayrshire"
data_dir = os.environ.get("HEART_GEO_DATA") or None
try:
    options = heart_geo.list_profiles()
except heart_geo.HeartGeoError:
    options = []
if default_profile not in options:
    options = [default_profile, *options]

with st.sidebar:
    st.header("HEART locality teams")
    profile_name = st.selectbox(
        "Council profile", options, index=options.index(default_profile), format_func=profile_label, key="profile"
    )
    st.caption("Everything on the page follows the chosen council.")

try:
    stamp = get_stamp(profile_name, data_dir)
    profile = get_profile(profile_name, data_dir, stamp)
except heart_geo.HeartGeoError as exc:
    st.error(f"Could not load the council profile {profile_label(profile_name)!r}: {exc}")
    st.info(
        "Set HEART_GEO_DATA to the folder holding the official datasets "
        "(`heart-geo data where` shows the folder in use)."
    )
    st.stop()

unit = profile.unit
units = explore.plural_unit(profile)

with st.sidebar:
    st.markdown(f"**{profile.name}**  \n{len(profile.teams)} {units}")
    if profile.effective_from:
        st.caption(f"{units.capitalize()} in force from {profile.effective_from:%d %B %Y}.")
    st.caption(PRIVACY)
    exact = st.checkbox(
        "Exact counts in the Links tab (internal use only)", key="exact_counts",
        help="By default counts of 1 to 4 pupils are shown as <5 (disclosure control). A caseload's "
             "own summary is always exact on screen and controlled in its download.",
    )
    suppress = not exact

st.title(f"Which {unit} supports a family? {profile.name}")
swatches = " ".join(
    f"<span style='white-space:nowrap;margin-right:10px'><span style='display:inline-block;"
    f"width:12px;height:12px;background:{html.escape(t.colour)};border:1px solid #333;"
    f"vertical-align:-1px;margin-right:4px'></span>{html.escape(t.name)}</span>"
    for t in profile.teams
)
st.markdown(f"<div class='team-key'>{len(profile.teams)} {units}: {swatches}</div>", unsafe_allow_html=True)

# Lazy tabs: only the open tab runs and is sent to the browser, so the first view is the map alone.
tab_map, tab_teams, tab_caseload, tab_links, tab_notes = st.tabs(
    ["Map & lookup", "Teams", "Caseload", "Links", "Data notes"], key="tab", on_change="rerun"
)


# --------------------------------------------------------------------------------------------------
# Map & lookup
# --------------------------------------------------------------------------------------------------
def show_services(answer: dict) -> None:
    """Show the link workers a family's team reaches (the services every team has are said once, in Teams)."""
    if answer["link_workers"]:
        lines = []
        for lw in answer["link_workers"]:
            shared = (
                f" (link worker shared with {', '.join(lw['shared_with'])})"
                if lw["shared_with"]
                else " (link worker for this " + unit + " only)"
            )
            lines.append(f"- {md(lw['service'])}{shared}")
        st.markdown("**Reached through link workers:**\n" + "\n".join(lines))


def show_community(answer: dict) -> None:
    """Show what is in this community: the team's hubs, the services present nearest first, and counts."""
    c = answer.get("community")
    if not c:
        return
    with st.container(key="community"):
        st.markdown(f"**In this community ({md(answer['team'])})**")
        if c["hubs"]:
            st.markdown("Hub / base: " + ", ".join(f"{md(h['name'])} ({h['postcode'] or 'by coordinates'})"
                                                   for h in c["hubs"]))
        else:
            st.caption(f"No hub or base recorded for this {unit} in the council profile yet.")
        if c["listed"]:
            where = "the point given" if answer.get("from_point") else "the postcode's centre"
            st.markdown(
                "\n".join(f"- {md(x['name'])} ({md(kind_words(x['kind']))}"
                          + (f", {distance_words(x['distance_m'])}" if x["distance_m"] is not None else "")
                          + ")" for x in c["listed"][:COMMUNITY_SHOWN])
            )
            more = len(c["listed"]) - COMMUNITY_SHOWN
            st.caption(f"Nearest first, straight-line distance from {where}."
                       + (f" {more} more in the Teams tab." if more > 0 else ""))
        else:
            st.caption(f"No children's or family services listed in this {unit} in the service data.")
        if c["counted"]:
            st.caption("Counted only, not named or mapped: "
                       + ", ".join(f"{k} {v}" for k, v in c["counted"].items()) + ".")
        if c["council_only"]:
            st.caption("Counted for the whole council (the data gives no postcode to place them): "
                       + ", ".join(f"{k} {v}" for k, v in c["council_only"].items()) + ".")


def kind_words(kind: str) -> str:
    """Return a service kind inside a sentence: "day care of children", "GP practice"."""
    return kind if kind[:2].isupper() else kind[:1].lower() + kind[1:]


#: How many services a lookup lists (nearest first); the Teams tab lists them all.
COMMUNITY_SHOWN = 8
#: The box each status is shown in.
_BOX = {"allocated": st.success, "nearest_team": st.warning, "unknown_postcode": st.warning,
        "terminated_postcode": st.warning, "pseudo_postcode": st.warning, "outside_area": st.error}


def show_answer(answer: dict | None) -> None:
    """Show the one answer panel: a lookup and a map click alike (headline once, one sentence, services)."""
    with st.container(key="lookup_answer"):
        if answer is None:
            st.caption("Type a postcode and press Enter, or click the map.")
            return
        st.markdown(f"## {md(answer['answer'])}")
        _BOX.get(answer["status"], st.info)(md(answer["sentence"]))
        if answer.get("catchment_school"):
            st.caption(f"Catchment school: {md(answer['catchment_school'])}")
        if answer.get("split_teams"):
            st.warning(f"This postcode's addresses fall in more than one {unit}: "
                       f"{md(answer['split_teams'])}. Give the UPRN or the house to settle it.")
        if answer.get("near_boundary"):
            st.caption("Near a catchment boundary: addresses in this postcode may straddle it; check by hand.")
        if answer.get("data_zone"):
            st.caption(md(answers.zone_line(answer)))
        show_services(answer)
        show_community(answer)


def _typed() -> None:
    """Forget the map click when a new query is typed: the box answers, not an earlier map click."""
    st.session_state.pop("_clicked_point", None)


def render_map_tab() -> None:
    """Render the map tab: look up a postcode, address or point (or click the map) and show its team."""
    left, right = st.columns([1, 2.3], gap="medium")
    with left:
        query = st.text_input(
            "Postcode or address",
            key="query",
            placeholder="a postcode, an address containing one, or latitude, longitude",
            help="A postcode in any spelling, an address containing one, or 'latitude, longitude'.",
            on_change=_typed,
        )
        point = st.session_state.get("_clicked_point")
        if point is not None:
            answer = answers.click_answer(profile, *point)
        else:
            answer = answers.lookup_answer(profile, query) if query.strip() else None
        show_answer(answer)

    with right:
        highlight = answer["map_team"] if answer else None
        marker = answer["latlon"] if answer else None
        out = mapview.show_map(
            get_map(profile_name, data_dir, stamp, highlight), key=f"map_{profile.key}", height=600,
            point=marker, label=answer["query"] if answer else None,
        )
        clicked = (out or {}).get("last_clicked")
        if clicked and clicked != st.session_state.get("_seen_click"):
            st.session_state["_seen_click"] = clicked
            st.session_state["_clicked_point"] = (float(clicked["lat"]), float(clicked["lng"]))
            st.rerun()
        st.caption(
            f"Click the map to see which {unit} covers a place: the answer shows on the left. Hover a "
            "school or an area for details; the layer button (top left) hides layers."
        )


# --------------------------------------------------------------------------------------------------
# Teams
# --------------------------------------------------------------------------------------------------
def render_teams_tab() -> None:
    """Render the teams tab: an overview of every team and each team's details."""
    details = get_team_details(profile_name, data_dir, stamp)
    overview = pd.DataFrame(
        [
            {
                unit.capitalize(): d["team"],
                "Postcodes": d["postcodes"],
                "Of which nearest": d["postcodes_nearest"],
                "Area km²": d["area_km2"],
                "Schools": d["schools"],
                "Catchment school": d["catchment_schools"],
                "Services present": d.get("services_present", 0),
                **_population_columns(d),
            }
            for d in details
        ]
    )
    st.subheader(f"The {len(details)} {units}")
    st.dataframe(overview, hide_index=True, key="teams_overview", width="stretch")
    st.caption(
        f"Postcodes: the postcodes of each {unit}. Of which nearest: postcodes in the council but in no "
        f"catchment, given to the nearest {unit} (check those by hand)."
    )
    if "children" in (details[0] if details else {}):
        st.caption(answers.POPULATION_CAPTION)
    common = details[0]["services_in_team"] if details else []
    if common and all(d["services_in_team"] == common for d in details):
        st.markdown(f"**Every {unit} brings together:** " + ", ".join(md(x) for x in common) + ".")
    render_service_counts()
    render_export()
    for d in details:
        with st.expander(f"{d['team']}: {counted(d['postcodes'], 'postcode')}, {d['area_km2']:.1f} km²"):
            st.markdown(f"**Catchment school:** {md(d['catchment_schools'])}")
            st.markdown(
                f"**Schools in the {unit} ({len(d['school_names'])}):** "
                + (md(", ".join(d["school_names"])) or "none")
            )
            if d["services_in_team"] != common:
                st.markdown(f"**Services in the {unit}:** " + (md(", ".join(d["services_in_team"])) or "none"))
            if d["link_workers"]:
                st.markdown(
                    "**Services reached through link workers:**\n"
                    + "\n".join(
                        f"- {md(lw['service'])}"
                        + (f" (shared with {', '.join(lw['shared_with'])})" if lw["shared_with"] else "")
                        for lw in d["link_workers"]
                    )
                )
            else:
                st.markdown("**Services reached through link workers:** none")
            st.markdown(
                "**Council-wide schools it must link with:** " + (md(", ".join(d["council_wide_schools"])) or "none")
            )
            show_team_services_present(d)


def _population_columns(d: dict) -> dict:
    """Return the Teams overview's population columns (none when population is not loaded)."""
    if "children" not in d:
        return {}
    share = d.get("children_simd_q1_share")
    return {"Children 0-17": d["children"],
            "In most deprived fifth": "-" if share is None else f"{share:.0%}",
            "Services per 1,000 children": d.get("services_per_1000_children")}


def render_service_counts() -> None:
    """Services present in each team, counted by kind (from the official service datasets)."""
    counts = get_service_counts(profile_name, data_dir, stamp)
    st.markdown(f"**Services present in each {unit}, by kind**")
    if counts.empty or counts["Services present"].sum() == 0:
        st.caption("No service datasets found in the data folder for this profile.")
        return
    st.dataframe(counts.rename(columns={unit: unit.capitalize()}), hide_index=True, key="teams_services",
                 width="stretch")
    st.caption(
        "From the Care Inspectorate datastore, PHS hospitals and GP practices (see Data notes). "
        "Childminders, children's houses, fostering and adoption services are counted only, never "
        f"named or mapped; those the data gives no postcode for are counted for the council, not a {unit}."
    )


def show_team_services_present(d: dict) -> None:
    """Show a team's hubs, its counts of services present by kind and the listed services by name."""
    hubs = d.get("hubs") or []
    st.markdown("**Hub / base:** " + (", ".join(h["name"] for h in hubs) if hubs
                                       else "none recorded in the council profile yet"))
    listed = d.get("services_listed") or []
    st.markdown(f"**Services present ({d.get('services_present', 0)}):** "
                + (", ".join(f"{k} {v}" for k, v in d.get("services_by_kind", {}).items()) or "none in the data"))
    if listed:
        by_kind: dict[str, list[str]] = {}
        for x in listed:
            by_kind.setdefault(x["kind"], []).append(x["name"])
        st.markdown("\n".join(f"- {md(k)}: {md(', '.join(v))}" for k, v in by_kind.items()))


def render_export() -> None:
    """Render the downloads of the team areas for GIS or a lookup table."""
    st.markdown(f"**Download the {units} for GIS or a lookup table**")
    st.caption(
        f"GeoPackage: {units}, catchments, gaps, schools, services and every postcode with its {unit} "
        "(EPSG:27700, opens in QGIS). GeoJSON: the team areas (WGS84). CSV: the postcode → "
        f"{unit} table a case-management system can import, with the data release on every row."
    )
    if not st.session_state.get("export_ready"):
        if st.button("Prepare downloads", key="export_prepare"):
            st.session_state["export_ready"] = True
            st.rerun()
        return
    cols = st.columns(3)
    for col, (fmt, label) in zip(
        cols, [("gpkg", "GeoPackage (.gpkg)"), ("geojson", f"{units.capitalize()} (.geojson)"),
               ("csv", f"Postcode → {unit} (.csv)")], strict=True,
    ):
        with col:
            try:
                data = get_export(profile_name, data_dir, stamp, fmt)
            except heart_geo.HeartGeoError as exc:
                st.error(md(exc))
                continue
            st.download_button(
                label, data=data, file_name=f"{profile.key}_{units}.{fmt}", mime=uploads.MIME[fmt],
                key=f"export_{fmt}", on_click="ignore",
            )


# --------------------------------------------------------------------------------------------------
# Caseload
# --------------------------------------------------------------------------------------------------
def render_caseload_tab() -> None:
    """Render the caseload tab: upload a caseload, allocate it and download the result."""
    st.subheader("Allocate a caseload")
    st.markdown(
        "Upload a CSV or Excel workbook (.xlsx) with one row per family and a postcode (or address, "
        "or coordinates) column. You get back **every row and column** with the team columns added, "
        "in the format you uploaded: the same file `heart-geo assign` writes; cells a spreadsheet "
        "would run as formulas are made safe. Where the postcode is empty or not a postcode, the "
        "address column(s), then coordinates, are tried."
    )
    st.info(PRIVACY)
    upload = st.file_uploader("Caseload (CSV or .xlsx)", type=None, key="caseload_file", help=UPLOAD_HELP,
                              max_upload_size=UPLOAD_MAX_MB)
    if upload is not None:
        data = upload.getvalue()
        col_choice = st.text_input("Location column (leave empty to find it automatically)", key="caseload_col")
        sheet = st.text_input("Sheet of a workbook (leave empty for the first)", key="caseload_sheet")
        state_key = (upload.file_id, profile.key, col_choice.strip(), sheet.strip())
        cached = st.session_state.get("_caseload_result")
        if cached is None or cached[0] != state_key:
            st.session_state.pop("_caseload_result", None)
            try:
                result = uploads.allocate_caseload_bytes(
                    profile, data, name=upload.name, postcode=col_choice.strip() or None, sheet=sheet.strip() or None
                )
            except heart_geo.HeartGeoError as exc:
                result = None
                st.error(f"{md(upload.name)} was not allocated, and no earlier result is shown: {md(exc)}")
            if result is not None:
                st.session_state["_caseload_result"] = (state_key, result)
        else:
            result = cached[1]
        del data
        if result is not None:
            show_caseload_result(result, upload.name)
    else:
        st.session_state.pop("_caseload_result", None)


def show_caseload_result(result, upload_name: str) -> None:
    """Show an allocated caseload: exact counts on screen for its own uploader; every download suppressed."""
    blank = f"; {counted(result.blank_lines, 'blank line')} skipped" if result.blank_lines else ""
    read = f"sheet {result.sheet!r} of an Excel workbook" if result.format == "xlsx" else "a CSV file"
    st.success(f"Allocated {counted(result.rows, 'row')} ({md(result.location)}; read as {md(read)}{blank}).")
    if result.note:
        st.warning(md(result.note))
    for cols, n in result.located_by.items():
        st.caption(f"{counted(n, 'row')} located from {md(cols)}: their postcode was empty or not a postcode.")
    by_team, by_status = uploads.caseload_counts(result, profile, suppress=False)
    c1, c2 = st.columns(2)
    with c1:
        st.markdown(f"**Your file by {unit}** (exact)")
        st.dataframe(by_team, hide_index=True, key="caseload_by_team", width="stretch")
    with c2:
        st.markdown("**Your file by answer** (exact)")
        st.dataframe(by_status, hide_index=True, key="caseload_by_status", width="stretch")
    st.info(
        "On screen: **exact counts**, for you, about your own file (not kept, not shared). "
        "**Downloaded or published**: the summary below has disclosure control applied "
        f"({disclosure.RULE})."
    )
    stem = Path(upload_name).stem or "caseload"
    st.download_button(
        "Download the summary for sharing (disclosure control applied, CSV)",
        data=uploads.caseload_summary_bytes(result, profile), file_name=f"{stem}_summary.csv", mime="text/csv",
        key="caseload_summary_download", on_click="ignore",
    )
    label = "Download allocated Excel workbook" if result.format == "xlsx" else "Download allocated CSV"
    st.download_button(
        label, data=result.data, file_name=f"{stem}_{units}.{result.format}", mime=result.mime,
        key="caseload_download", on_click="ignore", type="primary",
    )
    st.caption("The allocated file is every row of your own file with the answer columns added: it holds "
               "your families' details, so keep it as you keep the original.")


# --------------------------------------------------------------------------------------------------
# Links
# --------------------------------------------------------------------------------------------------
def render_links_tab() -> None:
    """Render the cross-locality links tab: council-wide schools and enrolment files."""
    st.subheader("Cross-locality links: schools that serve the whole council")
    st.markdown(
        f"A family is supported by the {unit} where it lives, not where the child goes to school. "
        f"Faith and ASN schools serve the whole council, so their staff link with other {units}."
    )
    source = st.radio(
        "Build the link table from",
        ["The schools' council-wide role", "An enrolment file (pupils' home postcodes)"],
        key="links_source",
        horizontal=True,
    )
    if source.startswith("The schools"):
        try:
            cw = get_council_wide_links(profile_name, data_dir, stamp)
        except heart_geo.HeartGeoError as exc:
            st.error(md(exc))
            cw = pd.DataFrame()
        if cw.empty:
            st.info("No council-wide schools in this profile's data.")
        else:
            pivot = answers.council_wide_matrix(profile, cw)
            st.dataframe(answers.for_people(neutralise_formulas(pivot), unit), hide_index=True, key="links_table",
                         width="stretch")
            st.download_button(
                "Download this table (CSV)", data=csv_bytes(pivot), file_name=f"council_wide_links_{unit}s.csv",
                mime="text/csv", key="links_table_download", on_click="ignore",
            )
            st.caption(
                f"Each council-wide school links with every {unit}. Upload an enrolment file "
                f"for the {units} its pupils actually live in, with counts."
            )
    else:
        st.markdown(
            "**Consent rule:** information passes between services only with consent, except where "
            "not sharing would put a child at risk of harm. Family-level rows are shown only for "
            "rows marked with recorded consent (`consent`) or a risk-of-harm flag (`risk_of_harm`); "
            "every other row counts in the totals only."
        )
        st.info(PRIVACY)
        enrol = st.file_uploader(
            "Enrolments, CSV or .xlsx (school, postcode, consent, risk_of_harm)", type=None, key="enrolment_file",
            help=UPLOAD_HELP, max_upload_size=UPLOAD_MAX_MB,
        )
        if enrol is not None:
            try:
                rep = uploads.enrolment_links_bytes(profile, enrol.getvalue(), name=enrol.name, suppress=suppress)
            except heart_geo.HeartGeoError as exc:
                rep = None
                st.error(f"{md(enrol.name)} was not read: {md(exc)}")
            if rep is not None:
                s = rep.summary
                cols = st.columns(4)
                cols[0].metric("Pupils", count(s["rows"]))
                cols[1].metric("Cross-locality", count(s["cross_locality"]))
                cols[2].metric("Released (consent/risk)", count(s["released"]))
                cols[3].metric("Withheld (counts only)", count(s["withheld"]))
                if s["unknown_school"] or s["no_home_team"]:
                    st.caption(
                        f"{counted(s['unknown_school'], 'row')} name a school not in the data; "
                        f"{counted(s['no_home_team'], 'row')} have no home {unit}."
                    )
                for flag, what in (("consent_column", "recorded consent"), ("risk_column", "a risk of harm")):
                    if not s.get(flag, True):  # as the CLI notes it: nothing is released on that ground
                        st.caption(f"No column marks {what}; no row is released on that ground.")
                st.markdown(f"**School-to-{unit} links** (pupils of council-wide schools by home {unit})")
                # every table shown and every download goes through the formula neutralising
                st.dataframe(answers.for_people(neutralise_formulas(rep.links), unit), hide_index=True,
                             key="enrol_links", width="stretch")
                st.download_button(
                    f"Download the school-to-{unit} links (CSV)", data=csv_bytes(rep.links),
                    file_name=f"links_{unit}s.csv", mime="text/csv", key="enrol_links_download", on_click="ignore",
                )
                st.markdown("**Family-level rows released under the consent rule**")
                if rep.detail.empty:
                    st.caption("None: no row has recorded consent or a risk-of-harm flag.")
                else:
                    st.dataframe(answers.for_people(neutralise_formulas(rep.detail), unit,
                                                    columns=answers.RELEASED_COLUMNS),
                                 hide_index=True, key="enrol_detail", width="stretch")
                    st.download_button(
                        "Download the released rows (CSV)", data=csv_bytes(rep.detail), file_name="links_released.csv",
                        mime="text/csv", key="enrol_detail_download", on_click="ignore",
                    )
                if s.get("consent_conflicts") or s.get("risk_conflicts"):
                    st.warning(
                        f"{counted(s.get('consent_conflicts', 0), 'row')} withheld because their consent values "
                        f"disagree and {s.get('risk_conflicts', 0):,} because their risk-of-harm values "
                        "disagree (two columns, or two rows of the same pupil): check them by hand."
                    )
                st.caption(
                    f"{counted(s['withheld'], 'row')} withheld: no consent and no risk-of-harm flag, so "
                    "they count in the link table only."
                )
                st.caption(rep.disclosure)


# --------------------------------------------------------------------------------------------------
# Data notes
# --------------------------------------------------------------------------------------------------
def render_notes_tab() -> None:
    """Render the notes tab: where the data comes from and what the answers depend on."""
    notes = get_data_notes(profile_name, data_dir, stamp)
    st.subheader("Where the data comes from")
    if notes["effective_from"]:
        st.markdown(f"{units.capitalize()} as in force from **{notes['effective_from']:%d %B %Y}**.")
    st.caption(notes["address_points"])
    for line in notes.get("population", []):
        st.caption(md(line))
    st.markdown("**Data in use** (the newest release of each dataset answers)\n\n"
                + "\n".join(f"- {md(line)}" for line in notes["data_in_use"]))
    st.dataframe(notes["sources"], hide_index=True, key="sources_table", width="stretch")
    st.markdown("**Attribution**\n\n" + "\n".join(f"- {md(a)}" for a in notes["attribution"]))
    st.markdown(
        "- Basemap: © OpenStreetMap contributors (tiles need an internet connection; the map reads without them)."
    )
    st.subheader("Known flaws")
    gs = notes["gap_summary"]
    for _, r in gs.iterrows():
        what = (
            "Areas inside the council in no catchment in the data (hatched grey on the map)"
            if r["kind"] == "gap"
            else "Catchments of schools in another council"
        )
        st.markdown(
            f"- {what}: **{counted(int(r['areas']), 'area')}**, **{r['km2']:.1f} km²**. Postcodes "
            f"there are given the nearest {unit}: check them by hand."
        )
    if not notes["other_council"].empty:
        st.markdown("**Area served from another council**")
        st.dataframe(notes["other_council"], hide_index=True, key="other_council", width="stretch")
    if not notes["largest_gaps"].empty:
        with st.expander("Largest gaps"):
            st.dataframe(notes["largest_gaps"], hide_index=True, width="stretch")
    st.markdown("**Repairs and other problems found when the data was loaded**")
    if notes["problems"]:
        st.markdown("\n".join(f"- {md(p)}" for p in notes["problems"]))
    else:
        st.caption("None.")
    st.caption(
        f"Map geometry simplified by {explore.SIMPLIFY_M:.0f} m for display; answers use the "
        f"full geometry. heart_geo {heart_geo.__version__}."
    )


# --------------------------------------------------------------------------------------------------
for _tab, _render in (
    (tab_map, render_map_tab),
    (tab_teams, render_teams_tab),
    (tab_caseload, render_caseload_tab),
    (tab_links, render_links_tab),
    (tab_notes, render_notes_tab),
):
    if _tab.open:
        with _tab:
            _render()
if not tab_caseload.open:  # nothing uploaded outlives the Caseload tab
    st.session_state.pop("_caseload_result", None)
