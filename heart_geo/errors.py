"""Errors a person can act on.

Domain errors subclass built-ins so ordinary handlers still work. Messages name what was wrong, what
was expected and what was received; they never contain personal data (addresses, postcodes, names),
only column names, row numbers and file paths.
"""

from __future__ import annotations


class HeartGeoError(Exception):
    """Base class for heart_geo errors."""


class DataNotFoundError(HeartGeoError, FileNotFoundError):
    """A dataset the profile needs is not in the data folder."""


class DataFormatError(HeartGeoError, ValueError):
    """A file is not in the format expected (wrong columns, no CRS, bad geometry...)."""


class ProfileError(HeartGeoError, ValueError):
    """A council profile in ``boundaries/`` is missing or inconsistent."""


class InputError(HeartGeoError, ValueError):
    """User input (a query, coordinates, a caseload file) cannot be used as given."""


class FetchError(HeartGeoError, OSError):
    """A download failed, was refused by the server, or is not the data it should be."""


class CRSMismatchError(DataFormatError):
    """Coordinates or geometry are in a different CRS from the one expected."""


class OfflineAssetError(HeartGeoError, RuntimeError):
    """A map needs a resource that cannot be provided offline."""


class RemoteAssetError(HeartGeoError, AssertionError):
    """Rendered HTML still loads a script or stylesheet from the network (a failed check)."""
