"""Uploads and downloads held in memory, for the dashboard: the command line's flows on bytes.

* :func:`allocate_caseload_bytes`: ``heart-geo assign`` on an uploaded file (a thin wrapper of
  :func:`heart_geo.caseload.allocate_bytes`, the code the CLI runs); its :class:`CaseloadResult` is
  the :class:`heart_geo.caseload.CaseloadSummary` the CLI prints, with the output bytes;
* :func:`enrolment_links_bytes`: ``heart-geo links --enrolments`` likewise
  (:func:`heart_geo.links.enrolment_links`, the code the CLI runs);
* :func:`export_bytes`: the ``heart-geo export`` file as bytes for a download;
* :func:`caseload_counts` / :func:`caseload_summary_bytes`: a caseload's counts by team and by answer
  in words for people: exact for its uploader's screen, under disclosure control for a download.

Nothing uploaded is written to disk or logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from . import caseload as _caseload
from .caseload import CaseloadSummary, csv_bytes
from .codes import status_label
from .errors import InputError
from .links import LinkReport, enrolment_links
from .population import add_rates
from .settings import UPLOAD_CHUNK_ROWS, UPLOAD_MAX_ROWS

__all__ = [
    "MIME",
    "CaseloadResult",
    "allocate_caseload_bytes",
    "caseload_counts",
    "caseload_summary_bytes",
    "enrolment_links_bytes",
    "export_bytes",
]

#: MIME types of the download formats.
MIME = {"csv": "text/csv", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "gpkg": "application/geopackage+sqlite3", "geojson": "application/geo+json"}


@dataclass
class CaseloadResult:
    """An uploaded caseload allocated in memory.

    Attributes
    ----------
    summary : CaseloadSummary
        What ``heart-geo assign`` reports (counts only); ``rows``, ``encoding``, ``location``,
        ``sheet``, ``blank_lines``, ``note``, ``located_by`` and the counts read from it.
    data : bytes
        What ``heart-geo assign`` writes, in ``format``.
    format : str
        {"csv", "xlsx"}: the format uploaded unless asked otherwise.
    """

    summary: CaseloadSummary
    data: bytes
    format: str = "csv"

    @property
    def rows(self) -> int:
        """Rows allocated (every input row)."""
        return self.summary.rows

    @property
    def encoding(self) -> str:
        """How a CSV was read."""
        return self.summary.encoding

    @property
    def location(self) -> str:
        """Which columns located the rows."""
        return self.summary.location

    @property
    def sheet(self) -> str | None:
        """The sheet read from a workbook."""
        return self.summary.sheet

    @property
    def blank_lines(self) -> int:
        """Blank lines skipped."""
        return self.summary.blank_lines

    @property
    def note(self) -> str:
        """What a person should know about the result."""
        return self.summary.note

    @property
    def located_by(self) -> dict[str, int]:
        """Rows located by each fallback (address or coordinate columns)."""
        return self.summary.located_by

    @property
    def status_counts(self) -> dict[str, int]:
        """Rows per status."""
        return self.summary.status

    @property
    def team_counts(self) -> dict[str, int]:
        """Rows per team (``"(none)"`` for rows with no team)."""
        return self.summary.team

    @property
    def csv_bytes(self) -> bytes:
        """The CSV output (UTF-8 with a byte-order mark); only for a CSV result."""
        if self.format != "csv":
            raise ValueError(f"this result is {self.format}, not CSV: use .data")
        return self.data

    @property
    def mime(self) -> str:
        """The MIME type of ``data``."""
        return MIME[self.format]

    def by_team(self, team_names: list[str], *, suppress: bool = True) -> pd.DataFrame:
        """Rows per team: :meth:`heart_geo.caseload.CaseloadSummary.by_team`."""
        return self.summary.by_team(team_names, suppress=suppress)

    def by_status(self, *, suppress: bool = True) -> pd.DataFrame:
        """Rows per status: :meth:`heart_geo.caseload.CaseloadSummary.by_status`."""
        return self.summary.by_status(suppress=suppress)


def allocate_caseload_bytes(
    profile,
    data: bytes,
    *,
    name: str = "upload.csv",
    postcode: str | None = None,
    x: str | None = None,
    y: str | None = None,
    crs: str | None = None,
    sheet: str | int | None = None,
    out_format: str | None = None,
    max_rows: int | None = UPLOAD_MAX_ROWS,
) -> CaseloadResult:
    r"""``heart-geo assign`` on a CSV or .xlsx held in memory: the same reading, columns, rows and safety.

    A thin wrapper of :func:`heart_geo.caseload.allocate_bytes` (the code the CLI runs): every
    input row and column is kept, in order, with the result columns added; cells a spreadsheet
    would run as formulas are neutralised. The output is in the format uploaded (``out_format``
    "csv" or "xlsx" to choose). Nothing is written to disk and no cell is logged.

    Raises
    ------
    InputError
        Empty or non-CSV file, no location column, a malformed row (the message says which).

    Examples
    --------
    >>> from heart_geo.testing import make_profile
    >>> r = allocate_caseload_bytes(make_profile(), b"id,postcode\r\n1,TT1 1AA\r\n")
    >>> r.rows, r.format, r.team_counts
    (1, 'csv', {'North': 1})
    """
    if out_format is None:
        head = bytes(data[:4])
        out_format = "xlsx" if head.startswith(b"PK\x03\x04") and _is_workbook(data) else "csv"
    out, summary = _caseload.allocate_bytes(
        profile, data, name=name, postcode_col=postcode, x_col=x, y_col=y, crs=crs, sheet=sheet,
        out_format=out_format, max_rows=max_rows, chunk_size=UPLOAD_CHUNK_ROWS,
    )
    return CaseloadResult(summary=summary, data=out, format=out_format)


def _is_workbook(data: bytes) -> bool:
    from .excel import is_workbook

    return is_workbook(bytes(data), None)


def enrolment_links_bytes(profile, data: bytes, *, name: str = "enrolments.csv", suppress: bool = True,
                          sheet: str | int | None = None, max_rows: int | None = UPLOAD_MAX_ROWS) -> LinkReport:
    """``heart-geo links --enrolments`` on a CSV or .xlsx held in memory.

    The consent rule is applied; counts of 1-4 show as <5 unless ``suppress=False``. Columns are
    found as the CLI finds them by default (:func:`heart_geo.links.read_enrolments`): the school
    (seed code or name), the home location (postcode, address or coordinates), recorded consent
    and a risk-of-harm flag. The report's ``detail`` holds only rows released under the consent
    rule, with ``shared_because``; every other row counts in ``links`` only.
    """
    return enrolment_links(profile, data, name=name, sheet=sheet, max_rows=max_rows, suppress=suppress)


def export_bytes(profile, fmt: str, *, layer: str = "teams") -> bytes:
    """Return the ``heart-geo export`` file as bytes for a download.

    ``fmt`` is "gpkg" (every layer), "geojson" (one layer, WGS84) or "csv" (the postcode -> team
    lookup table, with the data release named).
    """
    import tempfile

    from .export import export

    if fmt not in ("gpkg", "geojson", "csv"):
        raise InputError(f"export format {fmt!r}: expected 'gpkg', 'geojson' or 'csv'")
    with tempfile.TemporaryDirectory(prefix="heart-geo-export-") as d:
        path = Path(d) / f"{profile.key}.{fmt}"
        export(profile, path, layer=layer)
        return path.read_bytes()




def caseload_counts(result: CaseloadResult, profile, *, suppress: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return a caseload's rows by team and by answer, in words for people (no status code).

    Parameters
    ----------
    result : CaseloadResult
    profile : Profile
    suppress : bool
        Disclosure control (:mod:`heart_geo.disclosure`): False for the uploader's own screen, True
        for anything downloaded or published.

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        ``<Unit>``, ``Rows`` (teams in the profile's order, then "No <unit>"; and ``Per 1,000 children``
        where population is loaded) and ``Answer``, ``Rows``
        (most first; :func:`heart_geo.codes.status_label`).
    """
    unit = profile.unit
    team = add_rates(profile, result.by_team(profile.team_names, suppress=suppress))
    status = result.by_status(suppress=suppress)
    rates = {"Per 1,000 children": team["per_1000_children"]} if "per_1000_children" in team else {}
    return (
        pd.DataFrame({unit.capitalize(): [f"No {unit}" if t == "(none)" else t for t in team["team"]],
                      "Rows": team["rows"], **rates}),
        pd.DataFrame({"Answer": [status_label(s, unit) for s in status["status"]], "Rows": status["rows"]}),
    )


def caseload_summary_bytes(result: CaseloadResult, profile) -> bytes:
    """Return a caseload's summary for sharing as CSV: rows by team and by answer, disclosure control applied.

    Columns ``Group`` and ``Rows``; counts of 1 to 4 show as ``<5`` with secondary suppression.
    """
    by_team, by_status = caseload_counts(result, profile, suppress=True)
    by_team = by_team.rename(columns={by_team.columns[0]: "Group"})
    frame = pd.concat([by_team, by_status.rename(columns={"Answer": "Group"})], ignore_index=True)
    return csv_bytes(frame)
