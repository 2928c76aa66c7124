"""What this integration knows about the server's butler settings by id.

``GET /:/prefs`` decides which settings exist: an entity is made only for a
setting the server reports. This table adds what an id alone cannot tell: a
translation key (names and icons). Ids are case-sensitive, as in Plex.
"""

from __future__ import annotations

from typing import Final

from .api import PlexSetting

# One boolean per scheduled task: "run this task in the maintenance window".
TASK_SETTING_PREFIX: Final = "ButlerTask"
KNOWN_TASK_SETTINGS: Final[dict[str, str]] = {
    "ButlerTaskBackupDatabase": "schedule_backup_database",
    "ButlerTaskOptimizeDatabase": "schedule_optimize_database",
    "ButlerTaskCleanOldBundles": "schedule_clean_old_bundles",
    "ButlerTaskCleanOldCacheFiles": "schedule_clean_old_cache_files",
    "ButlerTaskRefreshLocalMedia": "schedule_refresh_local_media",
    "ButlerTaskRefreshLibraries": "schedule_refresh_libraries",
    "ButlerTaskUpgradeMediaAnalysis": "schedule_upgrade_media_analysis",
    "ButlerTaskRefreshPeriodicMetadata": "schedule_refresh_periodic_metadata",
    "ButlerTaskDeepMediaAnalysis": "schedule_deep_media_analysis",
    "ButlerTaskGarbageCollectBlobs": "schedule_garbage_collect_blobs",
    "ButlerTaskRefreshEpgGuides": "schedule_refresh_epg_guides",
    "ButlerTaskReverseGeocode": "schedule_reverse_geocode",
    "ButlerTaskGenerateAutoTags": "schedule_generate_auto_tags",
    "ButlerTaskGenerateMediaIndexFiles": "schedule_generate_media_index_files",
}
# Translation key (and icon) of a switch for a task setting this table lacks;
# the server's label names it.
OTHER_TASK_SETTING_KEY: Final = "other_task_setting"

# The maintenance window: whole hours, 0-23; an end before the start wraps
# past midnight, as in Plex.
START_HOUR: Final = "ButlerStartHour"
END_HOUR: Final = "ButlerEndHour"
HOUR_SETTINGS: Final[dict[str, str]] = {
    START_HOUR: "maintenance_start",
    END_HOUR: "maintenance_end",
}
HOUR_OPTIONS: Final = tuple(f"{hour:02d}:00" for hour in range(24))

# Library settings that decide whether the butler does a job at all.
BEHAVIOUR_SETTINGS: Final[dict[str, str]] = {
    "GenerateBIFBehavior": "generate_bif_behavior",
    "GenerateChapterThumbBehavior": "generate_chapter_thumb_behavior",
    "LoudnessAnalysisBehavior": "loudness_analysis_behavior",
}
BEHAVIOUR_OPTIONS: Final = ("never", "scheduled", "asap")

BACKUP_PATH: Final = "ButlerDatabaseBackupPath"


def is_task_setting(setting: PlexSetting) -> bool:
    """A boolean that schedules one butler task."""
    return setting.id.startswith(TASK_SETTING_PREFIX) and setting.type == "bool"


def is_butler_setting(setting: PlexSetting) -> bool:
    """One of the settings this integration shows; Plex reports ~200 others."""
    return (
        is_task_setting(setting)
        or setting.id in HOUR_SETTINGS
        or setting.id in BEHAVIOUR_SETTINGS
        or setting.id == BACKUP_PATH
    )
