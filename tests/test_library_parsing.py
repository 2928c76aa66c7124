"""The sections list as Plex may send it, and folders checked against locations.

Pure functions, no Home Assistant: the shapes Plex sends (JSON, XML, one item
as a lone object, odd entries) and the path rules the action relies on.
"""

from __future__ import annotations

import pytest

from custom_components.plex_butler.api import (
    LibrarySection,
    PlexResponseError,
    parse_body,
    parse_sections,
)
from custom_components.plex_butler.libraries import (
    folder_in_library,
    match_library,
    suggest_library,
)


def test_odd_entries_are_skipped_and_a_lone_item_is_a_list() -> None:
    data = {
        "MediaContainer": {
            "Directory": [
                "not a dict",
                {"key": "1", "title": "No uuid"},
                {"uuid": "u-2", "title": "No key"},
                {
                    "key": 3,
                    "uuid": "u-3",
                    "title": "Films",
                    "type": "movie",
                    "refreshing": "1",
                    "Location": ["odd", {"id": 1}, {"path": "/films"}],
                },
                {"key": "4", "uuid": "u-3", "title": "Same uuid again"},
                {"key": "5", "uuid": "u-5", "Location": {"path": "/one"}},
            ]
        }
    }
    assert parse_sections(data) == [
        LibrarySection("3", "u-3", "Films", "movie", True, ("/films",)),
        LibrarySection("5", "u-5", "5", None, False, ("/one",)),
    ]


def test_xml_reads_like_json() -> None:
    xml = (
        b'<MediaContainer size="1"><Directory key="7" uuid="u-7" title="YouTube"'
        b' type="movie" refreshing="0"><Location id="1" path="/data/youtube"/>'
        b'<Location id="2" path="/mnt/yt"/></Directory></MediaContainer>'
    )
    assert parse_sections(parse_body(xml, "text/xml")) == [
        LibrarySection(
            "7", "u-7", "YouTube", "movie", False, ("/data/youtube", "/mnt/yt")
        )
    ]


def test_no_container_is_an_error_and_no_directory_no_libraries() -> None:
    with pytest.raises(PlexResponseError):
        parse_sections({"ButlerTasks": {}})
    assert parse_sections({"MediaContainer": {"size": 0}}) == []


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/data/tv", "/data/tv"),
        ("/data/tv/", "/data/tv"),
        ("/data/tv/Show/../Other", "/data/tv/Other"),
        ("/data/tv/..", None),
        ("/data/tvx", None),
        ("/", None),
        ("relative/tv", None),
        ("\\\\nas\\media\\tv\\x", None),
    ],
)
def test_posix_folders(path: str, expected: str | None) -> None:
    assert folder_in_library(path, ["/data/tv"]) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("\\\\NAS\\Media\\TV\\Show", "\\\\NAS\\Media\\TV\\Show"),
        ("\\\\nas\\media\\tv/show/", "\\\\nas\\media\\tv\\show"),
        ("\\\\nas\\media\\tvx", None),
        ("/media/tv", None),
    ],
)
def test_windows_share_folders(path: str, expected: str | None) -> None:
    assert folder_in_library(path, ["\\\\nas\\media\\tv"]) == expected


SECTIONS = [
    LibrarySection("1", "u-1", "Movies"),
    LibrarySection("4", "u-4", "2"),
    LibrarySection("2", "u-2", "Kids"),
]


@pytest.mark.parametrize(
    ("requested", "key"),
    [("movies", "1"), ("4", "4"), ("2", "4"), ("1", "1"), ("kids ", "2"), ("x", None)],
)
def test_a_title_wins_over_a_key(requested: str, key: str | None) -> None:
    found = match_library(requested, SECTIONS)
    assert (found.key if found else None) == key


def test_suggestion_only_when_close() -> None:
    assert suggest_library("Moveis", SECTIONS) == SECTIONS[0]
    assert suggest_library("Audiobooks", SECTIONS) is None
