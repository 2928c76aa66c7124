"""Every key the code can show a user has its English text and icon.

Custom integrations ship translations/en.json as written (no strings.json
build step), so a missing key would show users a raw key instead of a sentence.
"""

from __future__ import annotations

import json
from pathlib import Path
import re

import yaml

from custom_components.plex_butler.api import CLIENT_VERSION
from custom_components.plex_butler.tasks import KNOWN_TASKS, OTHER_TASK_KEY

PACKAGE = Path(__file__).parent.parent / "custom_components" / "plex_butler"
EN = json.loads((PACKAGE / "translations" / "en.json").read_text())
ICONS = json.loads((PACKAGE / "icons.json").read_text())
SOURCES = {path.name: path.read_text() for path in PACKAGE.glob("*.py")}


def _keys_used(pattern: str) -> set[str]:
    return {match for text in SOURCES.values() for match in re.findall(pattern, text)}


def test_every_task_key_has_a_name_an_icon_and_an_action_option() -> None:
    keys = {task.key for task in KNOWN_TASKS.values()} | {OTHER_TASK_KEY}
    assert keys == set(EN["entity"]["button"])
    assert keys == set(ICONS["entity"]["button"])
    services = yaml.safe_load((PACKAGE / "services.yaml").read_text())
    options = services["start_task"]["fields"]["task"]["selector"]["select"]["options"]
    assert set(options) == keys - {OTHER_TASK_KEY}
    assert set(options) == set(EN["selector"]["task"]["options"])


def test_every_exception_key_has_a_message() -> None:
    used = _keys_used(r'translation_key="([a-z_]+)"')
    entity_keys = {key for platform in EN["entity"].values() for key in platform}
    assert used
    assert used - entity_keys <= set(EN["exceptions"])


def test_every_config_flow_error_and_abort_has_text() -> None:
    flow = SOURCES["config_flow.py"]
    errors = set(re.findall(r'InvalidInputError\(\s*"([a-z_]+)"', flow))
    errors |= set(
        re.findall(r'"([a-z_]+)" if data\[CONF_VERIFY_SSL\] else "([a-z_]+)"', flow)[0]
    )
    errors.add("unknown")
    assert errors <= set(EN["config"]["error"])
    aborts = set(re.findall(r'reason="([a-z_]+)"', flow)) | {
        "already_configured",
        "reauth_successful",
        "reconfigure_successful",
    }
    assert aborts <= set(EN["config"]["abort"])


def test_every_flow_step_has_a_title_and_field_help() -> None:
    steps = set(re.findall(r'step_id="([a-z_]+)"', SOURCES["config_flow.py"]))
    assert steps == set(EN["config"]["step"])
    for step in EN["config"]["step"].values():
        assert step["title"]
        assert set(step["data"]) == set(step["data_description"])


def test_the_action_is_described_with_an_icon() -> None:
    service = EN["services"]["start_task"]
    assert set(service["fields"]) == {"config_entry_id", "task"}
    assert ICONS["services"]["start_task"]["service"].startswith("mdi:")


def test_client_version_header_matches_the_manifest() -> None:
    manifest = json.loads((PACKAGE / "manifest.json").read_text())
    assert manifest["version"] == CLIENT_VERSION


def test_every_entity_key_has_a_name_and_an_icon() -> None:
    from custom_components.plex_butler.settings import (  # noqa: PLC0415
        BEHAVIOUR_SETTINGS,
        HOUR_SETTINGS,
        KNOWN_TASK_SETTINGS,
        OTHER_TASK_SETTING_KEY,
    )

    switches = {*KNOWN_TASK_SETTINGS.values(), OTHER_TASK_SETTING_KEY}
    assert switches == set(EN["entity"]["switch"]) == set(ICONS["entity"]["switch"])
    selects = {*HOUR_SETTINGS.values(), *BEHAVIOUR_SETTINGS.values()}
    assert selects == set(EN["entity"]["select"]) == set(ICONS["entity"]["select"])
    for platform in ("text", "sensor", "binary_sensor", "event"):
        assert set(EN["entity"][platform]) == set(ICONS["entity"][platform])
    for key in BEHAVIOUR_SETTINGS.values():
        assert set(EN["entity"]["select"][key]["state"]) == {
            "never",
            "scheduled",
            "asap",
        }


def test_every_action_is_described_with_an_icon() -> None:
    services = yaml.safe_load((PACKAGE / "services.yaml").read_text())
    assert set(services) == set(EN["services"]) == set(ICONS["services"])
    for name, service in services.items():
        assert set(service["fields"]) == set(EN["services"][name]["fields"])
