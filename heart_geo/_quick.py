"""``heart-geo lookup`` without loading a profile: the command's entry point tries a ready answer first.

A plain postcode the profile already holds is answered from the ready answers file
(:mod:`heart_geo._ready`), importing only the standard library; anything else takes the full command
line (:mod:`heart_geo.cli`), which gives the same answer it always has.
"""

from __future__ import annotations

import os
import re
import sys

from ._ready import print_lookup, read_answer, remember  # noqa: F401 - print_lookup, remember: importable here as before

__all__ = ["answer", "print_lookup", "remember"]

#: A plain postcode, as typed: the only queries answered here (anything else takes the full path).
_PLAIN_POSTCODE = re.compile(r"[A-Za-z]{1,2}[0-9][A-Za-z0-9]? ?[0-9][A-Za-z]{2}")


def _parse(argv: list[str]) -> dict | None:
    """``lookup QUERY [--profile P] [--data-dir D] [--json]`` and nothing else; else None."""
    if not argv or argv[0] != "lookup":
        return None
    out = {"query": None, "profile": os.environ.get("HEART_GEO_PROFILE", "east_ayrshire"),
           "data_dir": None, "json": False}
    it = iter(argv[1:])
    for a in it:
        if a == "--json":
            out["json"] = True
        elif a in ("--profile", "--data-dir"):
            value = next(it, None)
            if value is None or value.startswith("-"):
                return None
            out[a[2:].replace("-", "_")] = value
        elif a.startswith("-") or out["query"] is not None:
            return None
        else:
            out["query"] = a
    return out if out["query"] is not None else None


def answer(argv: list[str]) -> int | None:
    """Answer ``heart-geo lookup`` from ready answers and return the exit code; None to take the full path."""
    args = _parse(argv)
    if args is None:
        return None
    query = args["query"]
    if len(query) > 16 or not _PLAIN_POSTCODE.fullmatch(query.strip()):
        return None
    compact = re.sub(r"\s+", "", query).upper()
    postcode = f"{compact[:-3]} {compact[-3:]}"
    row = read_answer(postcode, query, args["profile"], args["data_dir"])
    if row is None:
        return None
    return print_lookup(row, args["json"])


def main(argv: list[str] | None = None) -> int:
    """Run the ``heart-geo`` command: a ready answer when there is one, else the full command line."""
    argv = list(sys.argv[1:] if argv is None else argv)
    code = answer(argv)
    if code is not None:
        return code
    from .cli import main as full

    return full(argv)
