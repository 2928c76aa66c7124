"""Plex Butler speaks German in a real Home Assistant set to ``language: de``.

What a German user reads comes from three places, and each is checked the way
the frontend gets it: entity names are translated by Home Assistant itself
(so a button's friendly name is German in its state); an action's error goes
over the websocket with its translation domain, key and placeholders, and the
frontend renders the ``exceptions`` text it fetches with
``frontend/get_translations`` (the error's ``message`` stays English, for the
logs); the config flow's texts come from the same command, category ``config``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from custom_components.plex_butler.tasks import task_key
from tests.conftest import MACHINE_ID, OWNER_TOKEN
from tests.plex_simulator import PlexSimulator

from .helpers import (
    INTEGRATION_DIR,
    HassApi,
    HassProcess,
    WebsocketCommandError,
    add_server_with_token,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.parametrize("hass_process", ["de"], indirect=True),
]

DOMAIN = "plex_butler"
GERMAN: dict[str, Any] = json.loads(
    (INTEGRATION_DIR / "translations" / "de.json").read_text("utf-8")
)


async def test_a_german_home_assistant_shows_german_texts(
    hass_process: HassProcess, hass_api: HassApi, plex: PlexSimulator
) -> None:
    """Button name, action error and config flow texts arrive in German."""
    api = hass_api
    hass_process.start()
    await api.wait_for_onboarding(hass_process)
    await api.onboard()
    await api.wait_until_running(hass_process)
    entry_id = await _add_the_server(api, plex)

    async with api.websocket() as ws:
        registry = await ws.command("config/entity_registry/list")
        optimize = next(
            e for e in registry if e["unique_id"] == f"{MACHINE_ID}_OptimizeDatabase"
        )
        state = await api.get(f"/api/states/{optimize['entity_id']}")
        assert state["attributes"]["friendly_name"] == (
            "Living Room Plex Datenbank optimieren"
        )

        with pytest.raises(WebsocketCommandError) as misuse:
            await ws.command(
                "call_service",
                domain=DOMAIN,
                service="start_task",
                service_data={"config_entry_id": entry_id, "task": "optimise_database"},
                return_response=True,
            )
        error = misuse.value.error
        exceptions = (
            await ws.command(
                "frontend/get_translations",
                language="de",
                category="exceptions",
                integration=[DOMAIN],
            )
        )["resources"]
        config = (
            await ws.command(
                "frontend/get_translations",
                language="de",
                category="config",
                integration=[DOMAIN],
                config_flow=True,
            )
        )["resources"]

    # The log's message is English; the UI's text is built from the rest.
    assert error["code"] == "service_validation_error"
    assert error["translation_domain"] == DOMAIN
    assert error["translation_key"] == "unknown_task_suggestion"
    placeholders = error["translation_placeholders"]
    assert placeholders["server"] == "Living Room Plex"
    assert placeholders["task"] == "optimise_database"
    assert placeholders["suggestion"] == "optimize_database (OptimizeDatabase)"
    assert placeholders["tasks"] == ", ".join(
        f"{task_key(task.name)} ({task.name})"
        for task in sorted(plex.tasks, key=lambda task: task_key(task.name))
    )
    assert "Did you mean optimize_database (OptimizeDatabase)?" in error["message"]

    template = exceptions[
        f"component.{DOMAIN}.exceptions.unknown_task_suggestion.message"
    ]
    assert template == GERMAN["exceptions"]["unknown_task_suggestion"]["message"]
    shown = template.format(**placeholders)
    assert shown.startswith(
        "Living Room Plex hat keine Butler-Aufgabe „optimise_database“. "
        "Meintest du optimize_database (OptimizeDatabase)? Gültige Aufgaben: "
    )

    assert config[f"component.{DOMAIN}.config.step.user.title"] == (
        "Mit deinem Plex Media Server verbinden"
    )
    assert config[f"component.{DOMAIN}.config.error.invalid_auth"] == (
        "Der Plex-Server hat dieses Token abgelehnt."
    )


async def _add_the_server(api: HassApi, plex: PlexSimulator) -> str:
    """The manual form with the owner's token creates a loaded entry."""
    return await add_server_with_token(api, plex.url, OWNER_TOKEN)
