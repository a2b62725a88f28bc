"""The ``heart-geo`` command line.

Results go to stdout or a file; logs and progress to stderr. Exit codes: 0 done; 2 the input or
usage was wrong (the message says what and what was expected); 1 an unexpected failure (reported in
one line, never a traceback). No log line or message carries personal data.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from . import _ready, _util
from ._text import team_blocks
from .errors import HeartGeoError, InputError
from .settings import EXIT_FAIL, EXIT_OK, EXIT_USAGE

log = logging.getLogger("heart_geo.cli")



class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # exit 2 with one clear line, as argparse does, plus usage
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"heart-geo: error: {message}\n")


class _Version(argparse.Action):
    """``--version``: read the installed version only when asked (it costs an import of metadata)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser, *_args):
        from . import __version__

        print(f"heart-geo {__version__}")
        parser.exit()


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--profile", metavar="NAME", default=os.environ.get("HEART_GEO_PROFILE", "east_ayrshire"),
                        help="the council: a profile name ('heart-geo profiles' lists them) or a profile .toml "
                        "file (default: east_ayrshire, or $HEART_GEO_PROFILE)")
    common.add_argument("--data-dir", metavar="FOLDER", help="folder holding the official datasets "
                        "(default: $HEART_GEO_DATA, then the user cache)")
    common.add_argument("-v", "--verbose", action="count", default=0,
                        help="say more about what is happening (-vv: everything, for finding a fault)")
    common.add_argument("-q", "--quiet", action="count", default=0, help="say less: no progress bar, no summary")

    # The same options on every subcommand, without defaults: a subparser's defaults would
    # overwrite values given before the subcommand ("heart-geo --profile X lookup ...").
    sub_common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    for action in common._actions:
        kw = {"help": action.help, "metavar": action.metavar}
        if isinstance(action, argparse._CountAction):
            kw = {"help": action.help, "action": "count"}
        sub_common.add_argument(*action.option_strings, dest=action.dest, **kw)

    p = _Parser(prog="heart-geo", description="Which locality team supports a family, from where it lives.",
                parents=[common])
    p.add_argument("--version", action=_Version, help="show the version and stop")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser, title="commands",
                           metavar="COMMAND")

    def command(name: str, text: str, more: str = "", parent=sub) -> argparse.ArgumentParser:
        """Add a subcommand whose one-line help is also the first sentence of its own --help."""
        return parent.add_parser(name, parents=[sub_common], help=text,
                                 description=f"{text[0].upper()}{text[1:]}." + (f" {more}" if more else ""))

    _add_allocation_commands(command)
    _add_report_commands(command)
    _add_server_and_data_commands(command)
    return p


_JSON = "print JSON instead of a table (for other programs)"
_NO_BOM = "write CSV without the byte-order mark (Excel needs it to show accented letters)"
_INTERNAL = "for internal use only (by default counts of 1 to 4 show as <5)"


def _add_allocation_commands(command) -> None:
    """``lookup``, ``assign``, ``links``, ``export``: the options of the commands that allocate."""
    s = command("lookup", "which team supports a family: give a postcode, an address or a map position")
    s.add_argument("query", help="a postcode (any spelling), an address containing one, 'latitude, longitude' "
                   "or 'easting, northing'")
    s.add_argument("--json", action="store_true", help=_JSON)

    s = command("assign", "add the team to every row of a caseload file (CSV or Excel)",
                "Every row is kept, with a plain status saying how its team was found.")
    s.add_argument("input", metavar="FILE", help="the caseload: a CSV file or an Excel workbook (.xlsx)")
    s.add_argument("-o", "--output", metavar="FILE", required=True,
                   help="file to write (never the caseload itself): an Excel workbook if it ends .xlsx, else CSV")
    s.add_argument("--sheet", help="which sheet of a workbook, by name or number (default: the first)")
    s.add_argument("--no-bom", action="store_true", help=_NO_BOM)
    s.add_argument("--no-suppress", action="store_true", help=f"exact counts in the summary, {_INTERNAL}")
    s.add_argument("--postcode-col", metavar="COLUMN",
                   help="the column holding postcodes or addresses (found by itself if left out)")
    s.add_argument("--x-col", metavar="COLUMN", help="the column of eastings or longitudes, for rows given "
                   "as a map position")
    s.add_argument("--y-col", metavar="COLUMN", help="the column of northings or latitudes")
    s.add_argument("--crs", help="what --x-col and --y-col hold: EPSG:27700 for eastings and northings "
                   "(default), EPSG:4326 for longitude and latitude")
    s.add_argument("--uprn-col", metavar="COLUMN", help="the column of UPRNs (property numbers): each answered "
                   "from its own address point when OS Open UPRN or ONSUD is in the data (a column named "
                   "like 'UPRN' is found by itself)")
    s.add_argument("--chunk-size", metavar="ROWS", type=int, default=100_000,
                   help="rows read at a time, to keep memory use low (default: 100000)")
    s.add_argument("--progress", action="store_true",
                   help="show the progress bar even when the output is not a terminal")

    s = command("links", "links between council-wide schools and the teams their pupils live in",
                "Faith and additional support needs schools serve the whole council: their pupils' home "
                "teams and the school keep in touch.")
    s.add_argument("--enrolments", metavar="FILE", help="pupils: a CSV or .xlsx file with each pupil's school "
                   "(seed code or name) and home postcode (without it: every council-wide school with every team)")
    s.add_argument("--sheet", help="which sheet of a workbook, by name or number (default: the first)")
    s.add_argument("--school-col", metavar="COLUMN", help="the column of school seed codes or names "
                   "(default: 'school')")
    s.add_argument("--postcode-col", metavar="COLUMN", help="the column of home postcodes (found by itself "
                   "if left out)")
    s.add_argument("--consent-col", metavar="COLUMN", help="the column saying consent to share was recorded "
                   "(default: 'consent')")
    s.add_argument("--risk-col", metavar="COLUMN", help="the column marking a child-protection risk of harm "
                   "(default: 'risk_of_harm')")
    s.add_argument("-o", "--output", metavar="FILE", help="write the table of links to this file (.xlsx or CSV)")
    s.add_argument("--detail-output", metavar="FILE", help="write the single pupils' rows that may be shared "
                   "(recorded consent, or a risk of harm) to this file")
    s.add_argument("--json", action="store_true", help=_JSON)
    s.add_argument("--no-bom", action="store_true", help=_NO_BOM)
    s.add_argument("--no-suppress", action="store_true", help=f"exact pupil counts, {_INTERNAL}")

    s = command("export", "write the team areas, gaps, schools and a postcode-to-team table for GIS or "
                "another system")
    s.add_argument("-o", "--output", metavar="FILE", required=True,
                   help="FILE.gpkg (every layer, for QGIS), FILE.geojson (one layer, see --layer) or FILE.csv "
                   "(a postcode-to-team table)")
    s.add_argument("--layer", default="teams", help="the layer a .geojson file holds (default: teams)")
    s.add_argument("--caseload", metavar="FILE", help="a caseload with its teams added (what 'heart-geo assign' "
                   "writes): its count per team goes into the teams layer (under 5 hidden unless --no-suppress)")
    s.add_argument("--no-bom", action="store_true", help=_NO_BOM)
    s.add_argument("--no-suppress", action="store_true", help=f"exact caseload counts, {_INTERNAL}")


def _add_report_commands(command) -> None:
    """``validate``, ``teams``, ``population``, ``services``, ``profiles``: the commands that report."""
    s = command("validate", "check the council's data and say what is wrong or missing")
    s.add_argument("--json", action="store_true", help=_JSON)
    s.add_argument("--all", action="store_true", help="check every council profile")

    s = command("teams", "each team: its postcodes, area, schools and services",
                "The table fits the terminal's width; --json gives every column in full.")
    s.add_argument("--json", action="store_true", help=_JSON)

    s = command("population", "how many people live in each team, from the data zones: children by age band, "
                "and how many live in the most deprived fifth of Scotland (SIMD)")
    s.add_argument("--ages", default="0-17", help="the ages to count (default: 0-17; e.g. 5-11, or 90+)")
    s.add_argument("--json", action="store_true", help=_JSON)

    s = command("services", "the services of the model, its link workers and hubs, and the services present "
                "in each team")
    s.add_argument("--json", action="store_true", help=_JSON)
    s.add_argument("--locations", action="store_true",
                   help="one row per service that may be published: its name, kind, provider, postcode, team "
                   "and source (childminders, children's houses, fostering and adoption are counted only, "
                   "never listed)")
    s.add_argument("-o", "--output", metavar="FILE", help="with --locations: write the rows to this CSV (or "
                   ".xlsx) file")
    s.add_argument("--no-bom", action="store_true", help=_NO_BOM)

    command("profiles", "list the council profiles")


def _add_server_and_data_commands(command) -> None:
    """``dashboard``, ``api`` and ``data``: the options of the commands that serve or fetch."""
    s = command("dashboard", "start the map dashboard, to use in a web browser",
                "Without --secrets it answers on this machine only; with it, people sign in with their "
                "work account and only those on the allow-list get in.")
    s.add_argument("--port", type=int, default=8501, help="port to listen on (default: 8501)")
    s.add_argument("--address", default="127.0.0.1",
                   help="address to listen on (default: 127.0.0.1, this machine only); any other, e.g. "
                   "0.0.0.0 for the whole network, needs --secrets")
    s.add_argument("--secrets", metavar="FILE",
                   help="turn on sign-in: a TOML file with [auth] (your OpenID Connect provider, e.g. Entra ID) "
                   "and [heart_geo] (who may come in); see the README, 'Sign-in and sharing on a network'")

    s = command("api", "serve the JSON API that case-management systems ask for teams",
                "Without --api-keys it answers on this machine only.")
    s.add_argument("--address", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this "
                   "machine only); any other needs --api-keys")
    s.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000)")
    s.add_argument("--workers", type=int, default=1, help="how many worker processes answer (default: 1)")
    s.add_argument("--api-keys", metavar="FILE", help="file of the SHA-256 hashes of the keys accepted, one a "
                   "line; each request then needs the header 'Authorization: Bearer KEY'")
    s.add_argument("--rate-limit", type=float, default=50.0, metavar="PER_SECOND",
                   help="requests a second allowed per key, bursts up to twice that (default: 50; 0: no limit)")

    s = command("data", "where the data is; download it where a network exists")
    dsub = s.add_subparsers(dest="data_command", required=True, parser_class=_Parser, title="commands",
                            metavar="COMMAND")
    d = command("fetch", "download the council's official files into the user cache", parent=dsub)
    d.add_argument("--dest", metavar="FOLDER", help="folder to download into (default: the user cache)")
    d.add_argument("--url", action="append", default=[], metavar="SOURCE=URL",
                   help="download this dataset from another address (repeatable)")
    d.add_argument("--sha256", action="append", default=[], metavar="SOURCE=HEX",
                   help="the SHA-256 checksum this dataset's file must have (repeatable)")
    d.add_argument("--only", action="append", metavar="SOURCE", help="download this dataset only (repeatable)")
    d.add_argument("--authkey", action="append", default=[], metavar="SOURCE=KEY",
                   help="a publisher's key (Spatial Hub: your free authkey; or set the variable the "
                   "profile names, e.g. $SPATIALHUB_AUTHKEY); never printed")
    command("where", "print the data folder in use and the release of each dataset that answers", parent=dsub)


def _setup_logging(verbose: int, quiet: int) -> None:
    level = logging.WARNING - 10 * verbose + 10 * quiet
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("heart_geo")
    root.handlers[:] = [h for h in root.handlers if isinstance(h, logging.NullHandler)] + [handler]
    root.setLevel(max(logging.DEBUG, min(level, logging.CRITICAL)))


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = _parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if "lookup" in argv and "--" not in argv:  # "-4.26,55.45" is a query, not an option
        argv = [a if not re.match(r"^-\d", a) else a for a in argv]
        neg = [i for i, a in enumerate(argv) if re.match(r"^-\d", a)]
        if neg:
            argv.insert(neg[0], "--")
    args = parser.parse_args(argv)
    _setup_logging(args.verbose, args.quiet)
    try:
        return _COMMANDS[args.command](args)
    except HeartGeoError as exc:
        print(f"heart-geo: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("heart-geo: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # a file could not be read or written: name the file, not its content
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"heart-geo: error: {exc.strerror or type(exc).__name__}{where}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # one line, no traceback: a traceback or message could carry row content
        print(f"heart-geo: unexpected failure ({type(exc).__name__}{_where(exc)}); please report it",
              file=sys.stderr)
        return EXIT_FAIL


_where = _util.where_raised


def _profile(args):
    from .profiles import load_profile

    return load_profile(args.profile, data_dir=args.data_dir)


def _print_table(df: pd.DataFrame, as_json: bool) -> None:
    if as_json:
        print(df.to_json(orient="records", force_ascii=False, indent=2))
    else:
        with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 200,
                               "display.max_colwidth", 60):
            print(df.to_string(index=False))


_jsonable = _util.nan_to_none


# --------------------------------------------------------------------------------------------------
def cmd_lookup(args) -> int:
    """Run ``heart-geo lookup``: print the team for one postcode, address or 'lat,lon'."""
    from .answers import lookup_json

    p = _profile(args)
    row = lookup_json(p, args.query)
    code = _ready.print_lookup(row, args.json)
    sys.stdout.flush()
    _ready.remember(p, args.profile, args.data_dir)  # ready answers for the next call
    return code


def cmd_assign(args) -> int:
    """Run ``heart-geo assign``: add the team columns to every row of a CSV or .xlsx caseload."""
    from . import caseload

    src = caseload.check_input_file(args.input)
    caseload.check_output_path(args.output, src)
    if args.chunk_size < 1:
        raise InputError(f"--chunk-size must be at least 1, got {args.chunk_size}")
    # read the header (and fail on an empty or non-CSV file) before loading the profile
    header = caseload.read_header(src, sheet=args.sheet)
    caseload.find_location_columns(header, postcode=args.postcode_col, x=args.x_col, y=args.y_col,
                                   crs=args.crs, source=src.name, uprn=args.uprn_col, find_uprn=True)
    p = _profile(args)
    bar = None
    if not args.quiet and (args.progress or sys.stderr.isatty()):
        from tqdm import tqdm

        bar = tqdm(unit=" rows", desc="allocating", file=sys.stderr, mininterval=0.5)
    try:
        s = caseload.allocate_caseload(
            p, src, args.output, postcode_col=args.postcode_col, x_col=args.x_col, y_col=args.y_col,
            crs=args.crs, uprn_col=args.uprn_col, chunk_size=args.chunk_size,
            progress=bar.update if bar is not None else None,
            sheet=args.sheet, bom=not args.no_bom,
        )
    finally:
        if bar is not None:
            bar.close()
    if not args.quiet:
        _print_assign_summary(s, p, src, args)
    return EXIT_OK


def _print_assign_summary(s, p, src: Path, args) -> None:
    """Print the counts of ``heart-geo assign`` on stderr (suppressed under 5 unless --no-suppress).

    With population loaded, each team's rows per 1,000 children aged 0-17 (hidden where the count is).
    """
    from . import disclosure
    from .population import RATE_HIDDEN, add_rates

    suppress = not args.no_suppress
    blank = f"; {s.blank_lines:,} blank lines skipped" if s.blank_lines else ""
    sheet = f" (sheet {s.sheet!r})" if s.sheet else ""
    print(f"Allocated {s.rows:,} rows from {src.name}{sheet} to {args.output} ({p.name}; "
          f"{s.location}{blank}):", file=sys.stderr)
    print(f"  data: {p.data_in_use()}", file=sys.stderr)
    if s.note:
        print(f"  note: {s.note}", file=sys.stderr)
    for k, v in s.located_by.items():
        print(f"  {_count(v)} rows located from {k} (postcode empty or invalid)", file=sys.stderr)
    for r in s.by_status(suppress=suppress).itertuples(index=False):
        print(f"  {r.status:<20} {_count(r.rows):>9}", file=sys.stderr)
    by_team = add_rates(p, s.by_team(p.team_names, suppress=suppress))
    rates = "per_1000_children" in by_team.columns
    if s.team:
        print("  by team:" + ("                       rows per 1,000 children aged 0-17" if rates else ""),
              file=sys.stderr)
    for r in by_team.to_dict("records"):
        rate = r.get("per_1000_children")
        shown = "" if rate is None else f"  {rate:>8}" if rate == RATE_HIDDEN else f"  {rate:>8.2f}"
        print(f"  {r['team']:<20} {_count(r['rows']):>9}{shown}", file=sys.stderr)
    print(f"  {disclosure.note(suppress)}", file=sys.stderr)


def _count(v) -> str:
    """Return a count for a message: 1,234, "<5", or "* (hidden, 5 or more)" under secondary suppression."""
    if isinstance(v, int | np.integer):
        return f"{v:,}"
    return "* (hidden, 5 or more)" if v == "*" else str(v)


def cmd_links(args) -> int:
    """Run ``heart-geo links``: the cross-locality links, from an enrolment file or council-wide."""
    if not args.enrolments:
        return _council_wide_links_out(args)
    from . import caseload
    from .links import links_from_enrolments, read_enrolments

    src = _enrolment_file(args)
    df, cols = read_enrolments(src, sheet=args.sheet, school=args.school_col, postcode=args.postcode_col,
                               consent=args.consent_col, risk=args.risk_col, options=_LINK_OPTIONS)
    for col, opt, what in ((cols.consent, "--consent-col", "recorded consent"),
                           (cols.risk, "--risk-col", "a risk of harm")):
        if col is None:
            print(f"heart-geo: note: no column marks {what} (name it with {opt}); no row is released "
                  "on that ground", file=sys.stderr)
    p = _profile(args)
    rep = links_from_enrolments(p, df, suppress=not args.no_suppress, **cols.kwargs())
    table = rep.links.assign(disclosure=rep.disclosure) if args.output else rep.links
    _out_or_print(table, args.output, args.json, bom=not args.no_bom)
    print(json.dumps(rep.summary, ensure_ascii=False), file=sys.stderr)
    for ground in ("consent", "risk"):
        n = rep.summary.get(f"{ground}_conflicts", 0)
        if n:
            print(f"heart-geo: note: {n} rows withheld because their {ground} values disagree (two columns, "
                  "or two rows of the same pupil): check them by hand", file=sys.stderr)
    if args.detail_output:
        caseload.write_csv_atomic([rep.detail], args.detail_output, [str(c) for c in rep.detail.columns],
                                  inputs=(src,), bom=not args.no_bom)
        print(f"{_count(rep.summary['released'])} rows released under the consent rule "
              f"(consent or risk of harm) to {args.detail_output}; {_count(rep.summary['withheld'])} counted only",
              file=sys.stderr)
    return EXIT_OK


#: The option naming each enrolment column, for messages.
_LINK_OPTIONS = {"school": "--school-col", "postcode": "--postcode-col", "consent": "--consent-col",
                 "risk": "--risk-col"}


def _council_wide_links_out(args) -> int:
    """``heart-geo links`` without an enrolment file: the schools' council-wide role alone."""
    from .links import council_wide_links

    if args.detail_output:
        raise InputError("--detail-output needs --enrolments: family-level rows come from an enrolment file")
    if args.output:
        from .caseload import check_output_path

        check_output_path(args.output)
    table = council_wide_links(_profile(args))
    _out_or_print(table, args.output, args.json, bom=not args.no_bom)
    return EXIT_OK


def _enrolment_file(args) -> Path:
    """Return the --enrolments file, checked with the outputs (never the input, never the same file twice)."""
    from . import caseload

    src = caseload.check_input_file(args.enrolments, "enrolment file")
    outs = [o for o in (args.output, args.detail_output) if o]
    for o in outs:
        caseload.check_output_path(o, src)
    if len(outs) == 2 and caseload.same_file(outs[0], outs[1]):
        raise InputError("--output and --detail-output are the same file; choose two paths")
    return src


def _out_or_print(df: pd.DataFrame, output: str | None, as_json: bool, *, bom: bool = True) -> None:
    if output:
        from .caseload import write_csv_atomic

        write_csv_atomic([df], output, [str(c) for c in df.columns], bom=bom)
    else:
        _print_table(df, as_json)


def cmd_export(args) -> int:
    """Run ``heart-geo export``: write the team areas and the postcode -> team table for GIS."""
    from . import caseload
    from .export import export

    caseload.check_output_path(args.output, *([args.caseload] if args.caseload else []))
    if args.caseload and not Path(args.caseload).is_file():
        raise InputError(f"caseload file {args.caseload!r} does not exist (or is a folder)")
    p = _profile(args)
    got = export(p, args.output, layer=args.layer, caseload=args.caseload, suppress=not args.no_suppress,
                 bom=not args.no_bom)
    if not args.quiet:
        print(f"Wrote {args.output} ({p.name}): {_export_counts(p, got)}", file=sys.stderr)
        if args.caseload:
            from .disclosure import note

            print(f"  {note(not args.no_suppress)}", file=sys.stderr)
    return EXIT_OK


def _export_counts(p, got: dict) -> str:
    """Features per layer, with the postcodes and gaps split as ``validate`` counts them."""
    from .figures import no_team_areas, postcode_counts

    parts = []
    for k, v in got.items():
        if k == "postcodes":
            n = postcode_counts(p)
            parts.append(f"postcodes {v:,} ({n['current']:,} current, {n['terminated']:,} terminated)")
        elif k == "gaps":
            a = no_team_areas(p)
            parts.append(f"gaps {v:,} ({a['gaps']:,} gaps in the data, {a['catchments_of_no_team']:,} "
                         "catchment(s) of no team)")
        else:
            parts.append(f"{k} {v:,}")
    return ", ".join(parts)


def cmd_validate(args) -> int:
    """Run ``heart-geo validate``: report data problems for the profile (or every profile)."""
    from .profiles import list_profiles, load_profile
    from .validate import validate_profile

    names = list_profiles() if args.all else [args.profile]
    reports = [validate_profile(load_profile(n, data_dir=args.data_dir)) for n in names]
    if args.json:
        print(json.dumps(reports, indent=2, ensure_ascii=False))
    else:
        for r in reports:
            _print_report(r)
    return EXIT_OK if all(r["ok"] for r in reports) else EXIT_FAIL


def _print_report(r: dict) -> None:
    print(f"== {r['council']} [{r['profile']}]")
    _print_data_in_use(r)
    _print_addresses(r)
    print(f"Postcodes: {r['postcodes']:,} current, {r['postcodes_allocated']:,} allocated by catchment or "
          f"override, {r['postcodes_nearest_team']:,} nearest_team")
    for k, v in r["postcodes_in_no_team"].items():
        print(f"  not allocated: {k}: {v}")
    if r["postcodes_terminated"]:
        each = ", ".join(f"{t} {c:,}" for t, c in r["terminated_by_team"].items())
        print(f"Terminated postcodes: {r['postcodes_terminated']:,}, each given the team of its last location "
              f"({each})")
    _print_geometry(r)
    sa = r.get("small_areas") or {}
    if "zones" in sa:
        print(f"Data zones: {sa['zones']} in the council ({sa['council_zones_by']}); postcodes placed "
              + "; ".join(f"by {k}: {v:,}" for k, v in sa["postcode_zone_methods"].items()))
        for k, v in (sa.get("split") or {}).items():
            print(f"  {k}: {v['children_in_split_zones']:,} of {v['children']:,} children 0-17 live in "
                  f"{v['split_zones']} zone(s) shared with another team")
    elif sa:
        print(f"Data zones: {sa['note']}")
    for k in ("missing_schools", "name_mismatches", "unmapped_catchments"):
        for x in r[k]:
            print(f"PROBLEM: {x}")
    print()


def _print_data_in_use(r: dict) -> None:
    """Print the releases in use, what changed in the postcodes since the previous one, the override areas."""
    for name, rel in r.get("releases", {}).items():
        older = f"; older kept for history: {', '.join(rel['older'])}" if rel.get("older") else ""
        print(f"Data in use: {name}: {rel['in_use']}{older}")
    ch = r.get("postcode_changes", {})
    if ch.get("previous_release"):
        print(f"Postcodes since {ch['previous_release']}: {ch['new_since_previous']:,} new, "
              f"{ch['gone_since_previous']:,} gone (kept as terminated), {ch['moved_in_from_other_councils']:,} "
              f"moved in from another council, {ch['moved_out_to_other_councils']:,} moved out, "
              f"{ch['centroid_moved_over_50m']:,} centroids moved over 50 m ({ch['centroid_moved_over_200m']:,} "
              "over 200 m)")
    for a in r.get("override_areas", []):
        print(f"Override area: {a['team']} in the {a['region']} ({a['postcodes']:,} postcodes, {a['km2']} km²)")
    for x in r.get("override_conflicts", []):
        print(f"  {x}")


def _print_addresses(r: dict) -> None:
    if r.get("address_points"):
        sp = r.get("split_postcodes", {})
        print(f"Address points: {r['address_points']:,}; postcodes whose addresses fall in more than one team: "
              f"{sp.get('count', 0):,}")
        for pc, teams in list(sp.get("postcodes", {}).items())[:20]:
            print(f"  {pc}: {teams}")
    else:
        print("Address points: not loaded (no OS Open UPRN or ONSUD file); postcodes answer from centroids")


def _print_geometry(r: dict) -> None:
    """Repairs, gaps, catchments of no team, overlaps and catchments outside the council."""
    print(f"Repaired geometries: {len(r['repaired'])}")
    for x in r["repaired"]:
        print(f"  {x['school']}: {x['repair']}")
    print(f"Areas of the council in no team: {r['areas_in_no_team']} (the export's gaps layer): "
          f"{len(r['gaps'])} gaps covered by no catchment ({r['gap_km2_total']} km² in all) and "
          f"{len(r['other_catchments'])} catchment(s) of no team")
    for g in r["gaps"][:10]:
        print(f"  {g['area_km2']} km² near E{g['near_easting']} N{g['near_northing']}")
    for o in r["other_catchments"]:
        print(f"Catchment of no team: {o['note']} ({o['area_km2']} km²)")
    print(f"Overlapping catchments: {len(r['overlaps'])}")
    for o in r["overlaps"]:
        print(f"  {o['a']} / {o['b']}: {o['area_m2']} m²")
    print(f"Catchments reaching outside the council outline: {len(r['outside_council'])}")
    for o in r["outside_council"]:
        print(f"  {o['school']}: {o['km2']} km²")


def cmd_teams(args) -> int:
    """Run ``heart-geo teams``: print the teams with postcodes, area, schools and services."""
    p = _profile(args)
    if args.json:
        _print_table(p.team_summary(), True)
    else:
        print(team_blocks(p, shutil.get_terminal_size((100, 24)).columns))
    return EXIT_OK


def cmd_population(args) -> int:
    """Run ``heart-geo population``: people per team (an age band), by age band and SIMD quintile 1."""
    from .population import parse_ages, population_json

    ages = parse_ages(args.ages)  # a bad band is reported before the profile loads
    out = population_json(_profile(args), ages)
    if args.json:
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return EXIT_OK
    year = f" (mid-{out['year']})" if out["year"] else ""
    print(f"{out['council']}: {out['council_total']:,} people aged {out['ages']}{year}")
    rows = [{"team": t["team"], f"aged {out['ages']}": t["population"],
             "in SIMD most deprived fifth": "-" if t["simd_q1_share"] is None else
             f"{t['simd_q1_population']:,} ({t['simd_q1_share']:.0%})",
             "zones (split)": f"{t['zones']} ({t['split_zones']})",
             "in split zones": t["split_zone_population"], **t["age_bands"]} for t in out["teams"]]
    _print_table(pd.DataFrame(rows), False)
    print("People in split zones are shared between teams in proportion to the zone's postcodes: "
          "that is the figures' uncertainty.")
    for note in out["notes"]:
        print(f"  {note}")
    return EXIT_OK


def cmd_services(args) -> int:
    """Run ``heart-geo services``: the model's services, link workers, hubs and services present."""
    from . import services as sv

    if args.output and not args.locations:
        raise InputError("-o/--output needs --locations (the per-service rows)")
    if args.output:
        from .caseload import check_output_path

        check_output_path(args.output)
    p = _profile(args)
    if args.locations:
        return _service_locations_out(p, args)
    t = sv.services_table(p)
    counts = sv.service_counts(p)
    hubs = sv.team_hubs(p)
    for problem in sv.service_problems(p):
        print(f"heart-geo: warning: {problem}", file=sys.stderr)
    if args.json:
        doc = {
            "model_services": t.to_dict("records"),
            "services_present": {
                team: {k: int(v) for k, v in counts.loc[team].items() if v}
                for team in counts.index
            },
            "listed": {team: sv.services_present(p, team)["listed"] for team in p.team_names},
            "hubs": hubs.astype(object).where(hubs.notna(), None).to_dict("records"),
        }
        print(json.dumps(doc, indent=2, ensure_ascii=False, default=_jsonable))
        return EXIT_OK
    for team in p.team_names:
        s = t[t["team"] == team]
        print(f"{team}")
        label = f"in the {p.unit}:"
        print(f"  {label:<19}{', '.join(s.loc[s['mode'] == 'team', 'service']) or '-'}")
        print(f"  via link workers:  {', '.join(s.loc[s['mode'] == 'link_worker', 'service']) or '-'}")
        h = hubs[hubs["team"] == team]
        print("  hubs / bases:      " + (", ".join(f"{r.name} ({r.postcode or 'by coordinates'})"
                                                 for r in h.itertuples()) or "none recorded in the profile"))
        present = sv.services_present(p, team)
        row = counts.loc[team] if team in counts.index else None
        total = int(row["total"]) if row is not None else 0
        print(f"  services present:  {total}" + (f" ({sv.counts_text(row)})" if total else ""))
        by_kind: dict[str, list[str]] = {}
        for x in present["listed"]:
            by_kind.setdefault(x["kind"], []).append(x["name"] or "(no name)")
        for kind, names in by_kind.items():
            print(f"    {kind} ({len(names)}): {', '.join(names)}")
        for kind, n in present["counted"].items():
            print(f"    {kind} ({n}): counted only, not named")
    if sv.NOT_PLACED in counts.index and counts.loc[sv.NOT_PLACED, "total"]:
        print(f"Counted for the council only (no postcode in the data, or one not in the postcode data, so no "
              f"{p.unit} can be given): "
              f"{sv.counts_text(counts.loc[sv.NOT_PLACED])}")
    if sv.OUTSIDE in counts.index:
        print(f"Listed by the data but outside the council: {sv.counts_text(counts.loc[sv.OUTSIDE])}")
    if not sv.service_sources(p):
        print("No service datasets in the profile ([sources.*] with kind = ...).")
    models = p.practice_models
    if models:
        print(f"Practice models: {', '.join(models)}")
    return EXIT_OK


def _service_locations_out(p, args) -> int:
    from . import services as sv

    out = sv.service_export(p)
    for problem in sv.service_problems(p):
        print(f"heart-geo: warning: {problem}", file=sys.stderr)
    if args.output:
        from .caseload import write_csv_atomic

        write_csv_atomic([out], args.output, list(out.columns), bom=not args.no_bom)
    else:
        _print_table(out, args.json)
    if not args.quiet:
        where = f" to {args.output}" if args.output else ""
        print(f"{len(out):,} services{where} ({p.name}):", file=sys.stderr)
        for k, v in out["status"].value_counts().items():
            print(f"  {k:<20} {v:>6,}", file=sys.stderr)
        held = sv.withheld_counts(p)
        if held:
            print("Counted only, never listed or exported: "
                  + ", ".join(f"{k} {v}" for k, v in held.items()), file=sys.stderr)
    return EXIT_OK


def cmd_profiles(args) -> int:  # noqa: ARG001
    """Run ``heart-geo profiles``: print the names of the council profiles."""
    from .profiles import list_profiles

    for n in list_profiles():
        print(n)
    return EXIT_OK


def cmd_dashboard(args) -> int:
    """Run ``heart-geo dashboard``: start the map dashboard (Streamlit) until stopped."""
    cmd, env, url = _dashboard_command(args)
    print(f"HEART dashboard on {url}  (Ctrl+C to stop)", file=sys.stderr)
    if args.secrets:
        print(f"  sign-in is on: open it at {url} exactly (sign-in returns to that address only)",
              file=sys.stderr)
    return _run_until_stopped(cmd, env)


_OPEN_DASHBOARD = ("To share it on a network, turn on sign-in: heart-geo dashboard --secrets FILE "
                   '(see the README, "Sign-in and sharing on a network").')


def _dashboard_command(args) -> tuple[list[str], dict, str]:
    """Check the dashboard's options; return the Streamlit command, its environment and the address to open."""
    from . import _net, signin
    from .app import DASHBOARD
    from .settings import UPLOAD_MAX_MB

    if not 0 < args.port < 65536:
        raise InputError(f"--port must be from 1 to 65535, got {args.port}")
    if args.secrets:
        sign_in = signin.read_signin(args.secrets, port=args.port)
        if signin.open_to_others(args.secrets):
            print(f"heart-geo: warning: other users of this machine can read the secrets file {args.secrets} "
                  f"(make it yours alone: chmod 600 {args.secrets})", file=sys.stderr)
    else:
        _net.require_loopback(args.address, server="the dashboard", guard="sign-in", how_to_open=_OPEN_DASHBOARD)
    app = DASHBOARD
    if not app.is_file():  # pragma: no cover - shipped in the package
        raise InputError(f"the dashboard app is missing from the installed package ({app})")
    try:
        import streamlit  # noqa: F401
    except ImportError:
        raise InputError("the dashboard needs the app extras: pip install 'heart-geo[app]'") from None
    env = dict(os.environ, HEART_GEO_PROFILE=args.profile)
    if args.data_dir:
        env["HEART_GEO_DATA"] = str(Path(args.data_dir).resolve())
    cmd = [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(args.port),
           "--server.address", args.address, "--server.headless", "true", "--client.toolbarMode", "viewer",
           "--browser.gatherUsageStats", "false", "--global.developmentMode", "false",
           "--server.maxUploadSize", str(UPLOAD_MAX_MB), "--server.maxMessageSize", str(max(200, 4 * UPLOAD_MAX_MB))]
    if args.secrets:
        # Streamlit's own banner would name --address, not the one address sign-in works at
        cmd += ["--secrets.files", str(Path(args.secrets).resolve()), "--logger.hideWelcomeMessage", "true"]
        return cmd, env, sign_in.origin(args.port)
    host = f"[{args.address}]" if ":" in args.address else args.address
    return cmd, env, f"http://{host}:{args.port}"


def _run_until_stopped(cmd: list[str], env: dict) -> int:
    """Run the server; SIGTERM, SIGINT or SIGHUP to this process stops it too (never left orphaned)."""
    import signal

    proc = subprocess.Popen(cmd, env=env)
    stopping = []

    def forward(signum, _frame):
        stopping.append(signum)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM if signum != signal.SIGINT else signal.SIGINT)

    sigs = [signal.SIGTERM, signal.SIGINT] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
    old = {s: signal.signal(s, forward) for s in sigs}
    try:
        while True:
            try:
                code = proc.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                if stopping and len(stopping) > 1:  # asked twice: do not wait for a clean shutdown
                    proc.kill()
        return 0 if stopping else code
    finally:
        if proc.poll() is None:  # an error in this process: never leave the server running
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        for s, h in old.items():
            signal.signal(s, h)


def cmd_api(args) -> int:
    """Run ``heart-geo api``: serve the JSON API (FastAPI on uvicorn) until stopped."""
    import importlib.util

    if any(importlib.util.find_spec(m) is None for m in ("fastapi", "uvicorn")):
        raise InputError("the API needs the api extras: pip install 'heart-geo[api]'")
    from .api import serve

    return serve.run(profile=args.profile, data_dir=args.data_dir, address=args.address, port=args.port,
                     workers=args.workers, api_keys=args.api_keys, rate=args.rate_limit, quiet=args.quiet,
                     verbose=args.verbose)


def cmd_data(args) -> int:
    """Run ``heart-geo data``: ``where`` prints the data in use, ``fetch`` downloads the official files."""
    from .config import read_config
    from .fetch import fetch_sources
    from .sources import default_data_dir

    if args.data_command == "where":
        return _data_where(args)
    conf = read_config(args.profile)  # the configuration alone: fetching needs no data

    def pairs(items, what):
        out = {}
        for it in items:
            if "=" not in it:
                raise InputError(f"--{what} takes SOURCE=VALUE, got {it!r}")
            k, v = it.split("=", 1)
            out[k.strip()] = v.strip()
        return out

    dest = Path(args.dest) if args.dest else default_data_dir()
    got = fetch_sources(conf, dest, urls=pairs(args.url, "url"), checksums=pairs(args.sha256, "sha256"),
                        only=args.only, authkeys=pairs(args.authkey, "authkey"),
                        progress=not args.quiet and sys.stderr.isatty())
    for name, f in got.items():
        state = "new release" if f.new else "already present"
        print(f"{name}: release {f.release} ({state}): {f.path}")
    return EXIT_OK


def _data_where(args) -> int:
    """Print the data folder, then each dataset's releases: the newest answers, older ones give history."""
    from .build import locate_releases
    from .config import read_config
    from .sources import resolve_data_dir

    root = resolve_data_dir(args.data_dir)
    print(root)
    cfg = read_config(args.profile)
    for name, rels in locate_releases(cfg.sources, root).items():
        desc = cfg.sources[name].description if cfg.sources[name].description is not None else name
        if not rels:
            print(f"{name}: not found ({desc})")
            continue
        new = rels[-1]
        where = os.path.relpath(new.root, root)
        line = f"{name}: {new.describe()} in {where} answers ({desc}; release from {new.how})"
        if len(rels) > 1:
            line += "; older: " + ", ".join(r.label for r in reversed(rels[:-1])) + " (history)"
        print(line)
    return EXIT_OK


_COMMANDS = {
    "lookup": cmd_lookup,
    "assign": cmd_assign,
    "links": cmd_links,
    "export": cmd_export,
    "validate": cmd_validate,
    "teams": cmd_teams,
    "population": cmd_population,
    "services": cmd_services,
    "profiles": cmd_profiles,
    "dashboard": cmd_dashboard,
    "api": cmd_api,
    "data": cmd_data,
}
