"""Find the library a user means, and check a folder against its locations.

Plex paths are paths on the server, not here: they are compared as text, by
path components, never looked up on this machine's disk. Most servers use
POSIX paths (``/data/youtube``); a Windows server's start with a drive letter
(``D:`` and a separator) or name a network share (two backslashes), and
compare case-insensitively with either separator.
"""

from __future__ import annotations

from collections.abc import Iterable
import difflib
import ntpath
from pathlib import PurePath, PurePosixPath, PureWindowsPath
import posixpath
import re
from typing import Final

from .api import LibrarySection

_WINDOWS_PATH: Final = re.compile(r"^(?:[A-Za-z]:[\\/]|\\\\)")


def is_windows_path(path: str) -> bool:
    """Whether a drive letter and separator, or a share's two backslashes, start it."""
    return _WINDOWS_PATH.match(path) is not None


def _pure(path: str, windows: bool) -> PurePath:
    """The path with ``..``, ``.``, doubled and trailing separators resolved."""
    if windows:
        return PureWindowsPath(ntpath.normpath(path))
    return PurePosixPath(posixpath.normpath(path))


def folder_in_library(path: str, locations: Iterable[str]) -> str | None:
    """The normalised ``path`` if it lies inside one of ``locations``, else None.

    ``path`` must be absolute, in the style of the location it lies in. The
    check is by path components after normalising, so ``/data/youtube/../x``
    is not inside ``/data/youtube`` and ``/data/youtube2`` is not either.
    A location itself counts as inside.
    """
    path = path.strip()
    windows = is_windows_path(path)
    if not windows and not path.startswith("/"):
        return None
    wanted = _pure(path, windows)
    for location in locations:
        if is_windows_path(location) != windows:
            continue
        if wanted.is_relative_to(_pure(location, windows)):
            return str(wanted)
    return None


def match_library(
    requested: str, sections: Iterable[LibrarySection]
) -> LibrarySection | None:
    """The library named by its title (any case) or by its key, or None.

    A title wins over a key, so a library titled "4" is found by "4" even if
    another one has the key 4. Of two libraries with the same title, the
    first the server lists is taken.
    """
    wanted = requested.strip().casefold()
    by_key = None
    for section in sections:
        if section.title.casefold() == wanted:
            return section
        if by_key is None and section.key == requested.strip():
            by_key = section
    return by_key


def suggest_library(
    requested: str, sections: Iterable[LibrarySection]
) -> LibrarySection | None:
    """The library whose title is closest to a name that matched none, if any."""
    by_title: dict[str, LibrarySection] = {}
    for section in sections:
        by_title.setdefault(section.title.casefold(), section)
    close = difflib.get_close_matches(
        requested.strip().casefold(), by_title, n=1, cutoff=0.6
    )
    return by_title[close[0]] if close else None
