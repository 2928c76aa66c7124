"""Token audit: a unique canary token, driven through everything, shows up nowhere.

The token may live in exactly two places: the config entry's stored data and
the ``X-Plex-Token`` header of each request. Every other output a user, a log
or a bug report can see is searched for it, with every logger at DEBUG:
the log (messages, arguments, formatted tracebacks), raised errors (text,
repr, causes, placeholders), flow results as the frontend receives them,
diagnostics, entity states, registries, repair issues, the entry's title and
the URLs the server saw.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
import json
import logging
from typing import Any
import uuid

from homeassistant.components.button import DOMAIN as BUTTON_DOMAIN, SERVICE_PRESS
from homeassistant.config_entries import (
    SOURCE_REAUTH,
    SOURCE_RECONFIGURE,
    SOURCE_USER,
    SOURCE_ZEROCONF,
    ConfigEntry,
    ConfigEntryState,
)
from homeassistant.const import ATTR_ENTITY_ID, CONF_TOKEN, CONF_URL, CONF_VERIFY_SSL
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
import pytest
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.plex_butler.const import DOMAIN

from .common import poll, zeroconf_info
from .plex_simulator import CURRENT_TASKS, PlexSimulator

CANARY = f"canary-{uuid.uuid4().hex}"
ENTITY = "button.living_room_plex_optimize_database"


@pytest.fixture(autouse=True)
def debug_everywhere(caplog: pytest.LogCaptureFixture, monkeypatch: Any) -> None:
    """Log everything, and let a hanging server fail a request in 0.3 s."""
    caplog.set_level(logging.DEBUG)
    for name in ("custom_components.plex_butler", "homeassistant", "aiohttp"):
        caplog.set_level(logging.DEBUG, logger=name)
    monkeypatch.setattr("custom_components.plex_butler.helpers.REQUEST_TIMEOUT", 0.3)


@pytest.fixture
def canary_plex(plex: PlexSimulator) -> PlexSimulator:
    """The simulator, accepting only the canary as owner token."""
    plex.token = CANARY
    return plex


class Audit:
    """Collects everything that must not contain the canary."""

    def __init__(self) -> None:
        """Start with nothing seen."""
        self.texts: dict[str, str] = {}
        # Forms that gave the token typed in their own flow back in its field.
        self.typed_back: list[str] = []

    def add(self, label: str, value: Any) -> None:
        """Keep a rendering of ``value`` that shows every nested string."""
        self.texts[f"{len(self.texts)}:{label}"] = json.dumps(
            value, default=repr, ensure_ascii=False
        ) + repr(value)

    def add_error(self, label: str, err: BaseException) -> None:
        """Keep an error's text, repr, placeholders and whole cause chain."""
        seen: BaseException | None = err
        while seen is not None:
            self.add(label, [str(seen), repr(seen), seen.args])
            self.add(label, getattr(seen, "translation_placeholders", None))
            seen = seen.__cause__ or seen.__context__

    async def error_of(self, label: str, call: Awaitable[Any]) -> BaseException:
        """Await a call that must fail, and keep its error."""
        with pytest.raises(Exception) as exc_info:
            await call
        self.add_error(label, exc_info.value)
        return exc_info.value

    def add_flow_result(self, label: str, result: Any) -> None:
        """Keep a flow result as the frontend receives it.

        This mirrors Home Assistant's flow view: a created entry loses
        ``data``, ``result`` and ``context`` (the stored data holds the token
        by design), and a form's schema is sent with its defaults, suggested
        values and selector settings.
        """
        shown = dict(result)
        if shown["type"] is FlowResultType.CREATE_ENTRY:
            for key in ("data", "result", "context"):
                shown.pop(key, None)
        if (schema := shown.get("data_schema")) is not None:
            fields = _schema_as_shown(schema)
            for field in fields:
                # The one place the canary may be: the token field of the form
                # whose flow it was typed into (checked by the caller).
                if field["name"] == CONF_TOKEN and field["description"] == {
                    "suggested_value": CANARY
                }:
                    self.typed_back.append(label)
                    field["description"] = None
            shown["data_schema"] = fields
        self.add(label, shown)

    def leaks(self) -> list[str]:
        """The labels of everything that contains the canary."""
        return [label for label, text in self.texts.items() if CANARY in text]


def _schema_as_shown(schema: Any) -> list[dict[str, Any]]:
    """Each field of a form with what the frontend gets to see of it.

    (HA's own serializer differs between versions; this keeps every value
    that could carry text: name, description, default and the selector.)
    """
    fields = []
    for key, validator in schema.schema.items():
        default = getattr(key, "default", None)
        fields.append(
            {
                "name": str(key),
                "description": getattr(key, "description", None),
                "default": default() if callable(default) else default,
                "selector": repr(validator),
            }
        )
    return fields


def _log_texts(caplog: pytest.LogCaptureFixture) -> Iterable[tuple[str, str]]:
    formatter = logging.Formatter()
    yield "caplog.text", caplog.text
    for record in caplog.records:
        yield f"record {record.name}", record.getMessage()
        yield f"record args {record.name}", repr(record.args)
        if record.exc_info:
            yield f"traceback {record.name}", formatter.formatException(record.exc_info)
        if record.stack_info:
            yield f"stack {record.name}", record.stack_info


def _debug(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The DEBUG records: proof that the audit really saw debug logging."""
    return [r for r in caplog.records if r.levelno == logging.DEBUG]


def _assert_token_only_in_headers(plex: PlexSimulator) -> None:
    """The server saw the canary in headers (so it was used), never in a URL."""
    assert [r.url for r in plex.requests if CANARY in r.url] == []
    authorized = [r for r in plex.requests if r.path in ("/", "/butler")]
    assert authorized
    assert all(r.headers.get("X-Plex-Token") == CANARY for r in authorized)


def _state(hass: HomeAssistant) -> str:
    state = hass.states.get(ENTITY)
    assert state is not None
    return state.state


async def test_config_flows_never_show_the_token(
    hass: HomeAssistant,
    canary_plex: PlexSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Discovery, user, reconfigure and reauth flows, through their error paths."""
    plex = canary_plex
    audit = Audit()
    flows = hass.config_entries.flow

    def show(label: str, result: Any) -> Any:
        audit.add_flow_result(label, result)
        audit.add(f"{label} progress", flows.async_progress())
        return result

    # Discovery: the token is asked for, refused (401, 500), then accepted.
    result = show(
        "zeroconf",
        await flows.async_init(
            DOMAIN, context={"source": SOURCE_ZEROCONF}, data=zeroconf_info(plex.port)
        ),
    )
    result = show(
        "zeroconf menu",
        await flows.async_configure(
            result["flow_id"], {"next_step_id": "zeroconf_confirm"}
        ),
    )
    for fault in ("401", "500", "hang"):
        plex.fault = fault
        result = show(
            f"zeroconf {fault}",
            await flows.async_configure(result["flow_id"], {CONF_TOKEN: CANARY}),
        )
        assert result["errors"], fault
        plex.release_hung()
    plex.fault = None
    result = show(
        "zeroconf ok",
        await flows.async_configure(result["flow_id"], {CONF_TOKEN: CANARY}),
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    assert isinstance(entry, ConfigEntry)
    await hass.async_block_till_done()

    # The user form: malformed and refused input, each shown back as a form.
    user_inputs: list[tuple[str, str, str, str | None]] = [
        ("ftp scheme", f"ftp://127.0.0.1:{plex.port}", CANARY, None),
        ("token with blank", plex.url, f"{CANARY} x", None),
        ("401", plex.url, CANARY, "401"),
        ("garbage", plex.url, CANARY, "garbage"),
        ("down", "http://127.0.0.1:0", CANARY, None),
        ("duplicate", plex.url, CANARY, None),
    ]
    result = show(
        "user", await flows.async_init(DOMAIN, context={"source": SOURCE_USER})
    )
    result = show(
        "manual",
        await flows.async_configure(result["flow_id"], {"next_step_id": "manual"}),
    )
    for label, url, token, user_fault in user_inputs:
        plex.fault = user_fault
        result = show(
            f"user {label}",
            await flows.async_configure(
                result["flow_id"],
                {CONF_URL: url, CONF_TOKEN: token, CONF_VERIFY_SSL: True},
            ),
        )
    plex.fault = None
    assert result["type"] is FlowResultType.ABORT  # already configured

    # Reconfigure: the form is pre-filled from the stored data, token excluded.
    result = show(
        "reconfigure",
        await flows.async_init(
            DOMAIN,
            context={"source": SOURCE_RECONFIGURE, "entry_id": entry.entry_id},
        ),
    )
    suggested = json.dumps(_schema_as_shown(result["data_schema"]), default=repr)
    assert plex.url in suggested  # the rendering does carry suggested values
    plex.fault = "503"
    result = show(
        "reconfigure 503",
        await flows.async_configure(
            result["flow_id"],
            {CONF_URL: plex.url, CONF_TOKEN: CANARY, CONF_VERIFY_SSL: False},
        ),
    )
    assert result["errors"] == {"base": "not_plex_server"}
    plex.fault = None
    result = show(
        "reconfigure ok",
        await flows.async_configure(
            result["flow_id"],
            {CONF_URL: plex.url, CONF_TOKEN: CANARY, CONF_VERIFY_SSL: True},
        ),
    )
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()

    # Reauth: a refused token, then the canary again.
    result = show(
        "reauth",
        await flows.async_init(
            DOMAIN,
            context={"source": SOURCE_REAUTH, "entry_id": entry.entry_id},
            data=dict(entry.data),
        ),
    )
    result = show(
        "reauth menu",
        await flows.async_configure(
            result["flow_id"], {"next_step_id": "reauth_confirm"}
        ),
    )
    plex.fault = "401"
    result = show(
        "reauth 401",
        await flows.async_configure(result["flow_id"], {CONF_TOKEN: CANARY}),
    )
    assert result["errors"] == {"base": "invalid_auth"}
    plex.fault = None
    result = show(
        "reauth ok",
        await flows.async_configure(result["flow_id"], {CONF_TOKEN: CANARY}),
    )
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()

    assert entry.state is ConfigEntryState.LOADED
    audit.add("entry title", entry.title)
    for label, text in _log_texts(caplog):
        audit.add(label, text)
    assert CANARY in json.dumps(dict(entry.data))  # stored, as it must be
    # The token typed in a flow comes back in that flow's form after errors
    # that are not the token's fault; never after a token error, never from
    # storage (the reconfigure form opens without it).
    assert audit.typed_back == [
        "zeroconf 500",
        "zeroconf hang",
        "user ftp scheme",
        "user garbage",
        "user down",
        "reconfigure 503",
    ]
    assert any(r.name.startswith("homeassistant") for r in _debug(caplog))
    assert audit.leaks() == []
    _assert_token_only_in_headers(plex)


async def test_operation_never_leaks_the_token(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    canary_plex: PlexSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Setup, polls, presses, the action and diagnostics, failing every way."""
    plex = canary_plex
    audit = Audit()
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "manual"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_URL: plex.url, CONF_TOKEN: CANARY, CONF_VERIFY_SSL: True},
    )
    entry = result["result"]
    assert isinstance(entry, ConfigEntry)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED

    async def press(entity_id: str = ENTITY) -> None:
        await hass.services.async_call(
            BUTTON_DOMAIN, SERVICE_PRESS, {ATTR_ENTITY_ID: entity_id}, blocking=True
        )

    async def start(task: str) -> Any:
        return await hass.services.async_call(
            DOMAIN,
            "start_task",
            {"config_entry_id": entry.entry_id, "task": task},
            blocking=True,
            return_response=True,
        )

    # Success: presses, the action, polls.
    await press()
    audit.add("action", await start("backup_database"))
    audit.add("action again", await start("BackupDatabase"))
    await poll(hass)

    # Failures of presses, the action and polls.
    # (A press is skipped while its button is unavailable, so each round
    # presses first, then polls, then lets the server recover.)
    for fault in ("500", "503", "redirect", "reset", "hang", "garbage", "html"):
        plex.fault = fault
        if fault not in ("garbage", "html"):  # a start ignores a 200's body
            await audit.error_of(f"press {fault}", press())
            await audit.error_of(f"action {fault}", start("CleanOldBundles"))
        await poll(hass)
        assert _state(hass) == "unavailable"
        plex.fault = None
        plex.release_hung()
        await poll(hass)
    await plex.stop()
    await audit.error_of("press down", press())
    await audit.error_of("action down", start("CleanOldBundles"))
    await poll(hass)
    await plex.start()
    await poll(hass)
    await audit.error_of("action unknown task", start("NoSuchTask"))

    # The server loses a task between polls: 404 on the press.
    plex.set_tasks([t for t in CURRENT_TASKS if t.name != "CleanOldCacheFiles"])
    await audit.error_of(
        "press 404", press("button.living_room_plex_clean_old_cache_files")
    )
    plex.set_tasks(CURRENT_TASKS)
    await poll(hass)

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    audit.add("diagnostics", diagnostics)

    # Finally the token is refused: press, action and poll, and reauth starts.
    plex.fault = "401"
    await audit.error_of("press 401", press())
    await audit.error_of("action 401", start("OptimizeDatabase"))
    await poll(hass)
    await hass.async_block_till_done()
    reauth = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert reauth
    audit.add("reauth flows", reauth)
    for flow in reauth:
        audit.add_flow_result(
            "reauth form",
            await hass.config_entries.flow.async_configure(flow["flow_id"]),
        )

    for state in hass.states.async_all():
        audit.add(f"state {state.entity_id}", state.as_dict())
    audit.add(
        "entities",
        er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id),
    )
    audit.add(
        "devices",
        dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id),
    )
    audit.add("issues", list(ir.async_get(hass).issues.values()))
    audit.add("entry title and reason", [entry.title, entry.reason])
    for label, text in _log_texts(caplog):
        audit.add(label, text)

    assert any(r.name.startswith("homeassistant") for r in _debug(caplog))
    assert audit.leaks() == []
    _assert_token_only_in_headers(plex)


def test_audit_finds_the_canary_where_it_could_hide(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The audit itself must be able to fail: nested data, causes, log args."""
    nested = Audit()
    nested.add("nested", {"a": [({"b": CANARY},)]})
    assert nested.leaks() == ["0:nested"]

    caused = Audit()
    err = ValueError("clean")
    err.__cause__ = RuntimeError(f"token={CANARY}")
    caused.add_error("error", err)
    assert caused.leaks()

    logging.getLogger("custom_components.plex_butler").debug("sent %s", CANARY)
    logged = Audit()
    for label, text in _log_texts(caplog):
        logged.add(label, text)
    assert logged.leaks()
