"""What this integration knows about Plex's butler tasks by name.

The server's ``GET /butler`` decides which tasks exist; this table only adds
what a name alone cannot tell: a translation key (names and icons), whether a
task is an everyday control, and whether its button starts enabled. Tasks that
are not in the table still get a working button, named by the server's title.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
import difflib
from enum import Enum
from functools import lru_cache
import re
from typing import Final


class TaskProfile(Enum):
    """How a task's button is presented."""

    # Everyday maintenance: a primary control, enabled.
    EVERYDAY = "everyday"
    # Cheap but rarely pressed by hand: a configuration control, enabled.
    OCCASIONAL = "occasional"
    # Scans or re-analyses whole libraries for hours: disabled until wanted.
    HEAVY = "heavy"


@dataclass(frozen=True, slots=True)
class KnownTask:
    """A butler task name this integration has translations for."""

    name: str
    key: str
    profile: TaskProfile


_KNOWN: Final = (
    # The everyday set the README promises: optimize, back up, clean, refresh.
    KnownTask("OptimizeDatabase", "optimize_database", TaskProfile.EVERYDAY),
    KnownTask("BackupDatabase", "backup_database", TaskProfile.EVERYDAY),
    KnownTask("CleanOldBundles", "clean_old_bundles", TaskProfile.EVERYDAY),
    KnownTask("CleanOldCacheFiles", "clean_old_cache_files", TaskProfile.EVERYDAY),
    KnownTask("RefreshLibraries", "refresh_libraries", TaskProfile.EVERYDAY),
    KnownTask("RefreshLocalMedia", "refresh_local_media", TaskProfile.OCCASIONAL),
    KnownTask(
        "RefreshPeriodicMetadata", "refresh_periodic_metadata", TaskProfile.OCCASIONAL
    ),
    KnownTask("CheckForUpdates", "check_for_updates", TaskProfile.OCCASIONAL),
    KnownTask("AutomaticUpdates", "automatic_updates", TaskProfile.OCCASIONAL),
    KnownTask("RefreshEpgGuides", "refresh_epg_guides", TaskProfile.OCCASIONAL),
    KnownTask("GarbageCollectBlobs", "garbage_collect_blobs", TaskProfile.OCCASIONAL),
    KnownTask(
        "GarbageCollectLibraryMedia",
        "garbage_collect_library_media",
        TaskProfile.OCCASIONAL,
    ),
    KnownTask("DeepMediaAnalysis", "deep_media_analysis", TaskProfile.HEAVY),
    KnownTask("UpgradeMediaAnalysis", "upgrade_media_analysis", TaskProfile.HEAVY),
    KnownTask("GenerateChapterThumbs", "generate_chapter_thumbs", TaskProfile.HEAVY),
    KnownTask(
        "GenerateMediaIndexFiles", "generate_media_index_files", TaskProfile.HEAVY
    ),
    KnownTask("LoudnessAnalysis", "loudness_analysis", TaskProfile.HEAVY),
    KnownTask("MusicAnalysis", "music_analysis", TaskProfile.HEAVY),
    KnownTask("ButlerTaskGenerateAdMarkers", "generate_ad_markers", TaskProfile.HEAVY),
    KnownTask(
        "ButlerTaskGenerateCreditsMarkers",
        "generate_credits_markers",
        TaskProfile.HEAVY,
    ),
    KnownTask(
        "ButlerTaskGenerateIntroMarkers", "generate_intro_markers", TaskProfile.HEAVY
    ),
    KnownTask(
        "ButlerTaskGenerateVoiceActivity", "generate_voice_activity", TaskProfile.HEAVY
    ),
    KnownTask("GenerateBlurHashes", "generate_blur_hashes", TaskProfile.HEAVY),
    KnownTask(
        "BuildGracenoteCollections", "build_gracenote_collections", TaskProfile.HEAVY
    ),
    KnownTask("GenerateAutoTags", "generate_auto_tags", TaskProfile.HEAVY),
)

KNOWN_TASKS: Final[dict[str, KnownTask]] = {task.name: task for task in _KNOWN}

# Translation key (and icon) of a button for a task this table does not know.
OTHER_TASK_KEY: Final = "other_task"

_NOT_ALNUM: Final = re.compile(r"[^0-9a-z]")


def _fold(text: str) -> str:
    """Lower-case and drop everything but letters and digits."""
    return _NOT_ALNUM.sub("", text.lower())


def task_key(name: str) -> str:
    """Return the snake_case key of a Plex task name (``OptimizeDatabase``)."""
    if (known := KNOWN_TASKS.get(name)) is not None:
        return known.key
    stripped = name.removeprefix("ButlerTask") or name
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", stripped).lower()


@lru_cache(maxsize=256)
def _spellings(name: str) -> tuple[str, str]:
    """The folded name and key a user may type for a task; the same every call."""
    return _fold(name), _fold(task_key(name))


def match_task(requested: str, available: Collection[str]) -> str | None:
    """Find the server's task meant by what a user typed, or None.

    ``OptimizeDatabase``, ``optimizedatabase`` and ``optimize_database`` all
    name the same task, and the ``ButlerTask`` prefix of newer names is optional.
    ``available`` may be the task dict itself: the exact name is then one lookup.
    """
    # The server's own name, as automations usually send it, needs no folding
    # and no sorting: the search below costs more than the rest of the action.
    if requested in available:
        return requested
    wanted = _fold(requested)
    if not wanted:
        return None
    for name in sorted(available):  # the first match in name order, as always
        if wanted in _spellings(name):
            return name
    return None


def suggest_task(requested: str, available: Collection[str]) -> str | None:
    """The server's task closest to a name that matched none, if any is close."""
    by_folded: dict[str, str] = {}
    for name in available:
        by_folded.setdefault(_fold(task_key(name)), name)
        by_folded.setdefault(_fold(name), name)
    close = difflib.get_close_matches(_fold(requested), by_folded, n=1, cutoff=0.6)
    return by_folded[close[0]] if close else None
