"""Every key the code can show a user has its English text and icon.

Custom integrations ship translations/en.json as written (no strings.json
build step), so a missing key would show users a raw key instead of a sentence.

The config flow's abort reasons, errors and steps are read from the code
itself (its syntax tree), together with the reasons Home Assistant's flow
helpers produce for it, so a new step or reason is checked without anyone
having to list it here.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
import json
from pathlib import Path
import re

import yaml

from custom_components.plex_butler.api import CLIENT_VERSION
from custom_components.plex_butler.config_flow import _SERVER_ERRORS, _TOKEN_ERRORS
from custom_components.plex_butler.tasks import KNOWN_TASKS, OTHER_TASK_KEY

PACKAGE = Path(__file__).parent.parent / "custom_components" / "plex_butler"
EN = json.loads((PACKAGE / "translations" / "en.json").read_text())
ICONS = json.loads((PACKAGE / "icons.json").read_text())
SOURCES = {path.name: path.read_text() for path in PACKAGE.glob("*.py")}

# ConfigFlow helpers that abort with a fixed reason unless given another one:
# the keyword that names the reason, and the reason they use by default.
ABORTING_HELPERS = {
    "_abort_if_unique_id_configured": ("error", "already_configured"),
    "_abort_if_unique_id_mismatch": ("reason", "unique_id_mismatch"),
    "_async_abort_entries_match": (None, "already_configured"),
}
# The calls that show a step, and so need its texts.
# config_flow's own wrapper of async_show_form: its call sites name the step,
# so the call inside it, which passes its parameter on, is not read.
STEP_WRAPPERS = {"_show"}
STEP_CALLS = {
    *STEP_WRAPPERS,
    "async_show_form",
    "async_show_menu",
    "async_external_step",
    "async_show_progress",
}


def _strings(node: ast.expr | None) -> set[str] | None:
    """The texts an expression can be: a literal, or either side of an ``if``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.IfExp):
        body, orelse = _strings(node.body), _strings(node.orelse)
        if body is not None and orelse is not None:
            return body | orelse
    return None


def _called(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


@dataclass
class FlowTexts(ast.NodeVisitor):
    """What a flow's code can show: abort reasons, errors, steps and their parts."""

    aborts: set[str] = field(default_factory=set)
    errors: set[str] = field(default_factory=set)
    steps: set[str] = field(default_factory=set)
    menu_options: dict[str, set[str]] = field(default_factory=dict)
    progress_actions: set[str] = field(default_factory=set)
    # Reasons the reader cannot work out (not a literal): the test fails on them.
    unresolved: list[str] = field(default_factory=list)
    _function: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, *sources: str) -> FlowTexts:
        reader = cls()
        for source in sources:
            reader.visit(ast.parse(source))
        return reader

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._function.append(node.name)
        self.generic_visit(node)
        self._function.pop()

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._function.append(node.name)
        self.generic_visit(node)
        self._function.pop()

    def visit_Assign(self, node: ast.Assign) -> None:
        """``errors["base"] = "unknown"``: a literal error set in place."""
        for target in node.targets:
            if (
                isinstance(target, ast.Subscript)
                and isinstance(target.value, ast.Name)
                and target.value.id == "errors"
            ):
                # A computed value (``err.error``) comes from InvalidInputError.
                self.errors |= _strings(node.value) or set()
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        name = _called(node)
        keywords = {kw.arg: kw.value for kw in node.keywords if kw.arg}
        first = node.args[0] if node.args else None
        if name == "async_abort":
            self._reason(keywords.get("reason"), node)
        elif name == "AbortFlow":
            self._reason(keywords.get("reason", first), node)
        elif name in ABORTING_HELPERS:
            keyword, default = ABORTING_HELPERS[name]
            if keyword in keywords:
                self._reason(keywords[keyword], node)
            else:
                self.aborts.add(default)
        elif name == "async_update_reload_and_abort":
            if "reason" in keywords:
                self._reason(keywords["reason"], node)
            else:
                self.aborts |= self._update_reasons()
        elif name == "async_set_unique_id":
            on_progress = keywords.get("raise_on_progress")
            if not (isinstance(on_progress, ast.Constant) and not on_progress.value):
                self.aborts.add("already_in_progress")
        elif name == "InvalidInputError":
            self.errors |= _strings(keywords.get("error", first)) or set()
        elif name in STEP_CALLS:
            self._step(keywords, node)
        self.generic_visit(node)

    def _reason(self, node: ast.expr | None, call: ast.Call) -> None:
        reasons = _strings(node)
        if reasons is None:
            self.unresolved.append(f"line {call.lineno}: {ast.unparse(call)}")
        else:
            self.aborts |= reasons

    def _update_reasons(self) -> set[str]:
        """Home Assistant picks the reason by the flow's source."""
        function = self._function[-1] if self._function else ""
        if "reauth" in function:
            return {"reauth_successful"}
        if "reconfigure" in function:
            return {"reconfigure_successful"}
        return {"reauth_successful", "reconfigure_successful"}

    def _step(self, keywords: dict[str, ast.expr], call: ast.Call) -> None:
        if self._function and self._function[-1] in STEP_WRAPPERS:
            return
        steps = _strings(keywords.get("step_id"))
        if steps is None:
            self.unresolved.append(f"line {call.lineno}: {ast.unparse(call)}")
            return
        self.steps |= steps
        errors = keywords.get("errors")
        if isinstance(errors, ast.Dict):
            for value in errors.values:
                self.errors |= _strings(value) or set()
        options = keywords.get("menu_options")
        if isinstance(options, (ast.List, ast.Tuple)):
            for step in steps:
                self.menu_options.setdefault(step, set()).update(
                    *(_strings(option) or set() for option in options.elts)
                )
        elif isinstance(options, ast.Dict):
            for step in steps:
                self.menu_options.setdefault(step, set()).update(
                    *(_strings(key) or set() for key in options.keys if key)
                )
        self.progress_actions |= _strings(keywords.get("progress_action")) or set()


FLOW = FlowTexts.of(*SOURCES.values())
# The library buttons' name and the device they are on (see test_libraries.py).
LIBRARY_KEY = "library"
LIBRARIES_DEVICE_KEY = "libraries"


def _keys_used(pattern: str) -> set[str]:
    return {match for text in SOURCES.values() for match in re.findall(pattern, text)}


def test_every_task_key_has_a_name_an_icon_and_an_action_option() -> None:
    keys = {task.key for task in KNOWN_TASKS.values()} | {OTHER_TASK_KEY}
    assert keys | {LIBRARY_KEY} == set(EN["entity"]["button"])
    assert keys | {LIBRARY_KEY} == set(ICONS["entity"]["button"])
    services = yaml.safe_load((PACKAGE / "services.yaml").read_text())
    options = services["start_task"]["fields"]["task"]["selector"]["select"]["options"]
    assert set(options) == keys - {OTHER_TASK_KEY}
    assert set(options) == set(EN["selector"]["task"]["options"])


def test_every_exception_key_has_a_message() -> None:
    # The one device key is a device name, checked with the library texts.
    used = _keys_used(r'translation_key="([a-z_]+)"') - {LIBRARIES_DEVICE_KEY}
    entity_keys = {key for platform in EN["entity"].values() for key in platform}
    assert used
    assert used - entity_keys <= set(EN["exceptions"])


def test_the_flow_reader_sees_every_way_to_end_or_fail_a_step() -> None:
    """The reader itself, on a made-up flow that uses each pattern once."""
    texts = FlowTexts.of(
        """
class Flow:
    async def async_step_user(self, user_input):
        await self.async_set_unique_id("x", raise_on_progress=False)
        self._abort_if_unique_id_configured()
        if user_input is None:
            errors["base"] = "unknown"
            raise InvalidInputError("a" if ok else "b", "url")
        return self.async_show_form(step_id="user", errors={"base": "c"})

    async def async_step_pick(self, user_input=None):
        return self.async_show_menu(step_id="pick", menu_options=["user", "wait"])

    async def async_step_wait(self, user_input=None):
        raise AbortFlow("gone")
        return self.async_show_progress(step_id="wait", progress_action="waiting")

    async def async_step_reauth_confirm(self, user_input=None):
        await self.async_set_unique_id("x")
        self._abort_if_unique_id_mismatch()
        return self.async_update_reload_and_abort(entry)

    async def async_step_reconfigure(self, user_input=None):
        self._abort_if_unique_id_mismatch(reason="wrong")
        self.async_abort(reason=why)
        return self.async_update_reload_and_abort(entry)

    def _shared(self):
        return self.async_update_reload_and_abort(entry)
"""
    )

    assert texts.aborts == {
        "already_configured",
        "already_in_progress",
        "gone",
        "unique_id_mismatch",
        "wrong",
        "reauth_successful",
        "reconfigure_successful",
    }
    assert texts.errors == {"a", "b", "c", "unknown"}
    assert texts.steps == {"user", "pick", "wait"}
    assert texts.menu_options == {"pick": {"user", "wait"}}
    assert texts.progress_actions == {"waiting"}
    assert len(texts.unresolved) == 1
    assert "reason=why" in texts.unresolved[0]


def test_every_config_flow_abort_reason_has_text() -> None:
    assert FLOW.unresolved == []
    assert FLOW.aborts
    missing = FLOW.aborts - set(EN["config"]["abort"])
    assert not missing, f"abort reasons without English text: {sorted(missing)}"


def test_every_config_flow_error_has_text() -> None:
    assert FLOW.errors
    # Errors looked up in a table rather than written at the raise.
    tabled = set(_SERVER_ERRORS.values()) | set(_TOKEN_ERRORS)
    missing = (FLOW.errors | tabled) - set(EN["config"]["error"])
    assert not missing, f"errors without English text: {sorted(missing)}"


def test_every_flow_step_has_a_title_and_field_help() -> None:
    assert FLOW.steps == set(EN["config"]["step"])
    for step_id, step in EN["config"]["step"].items():
        assert step["title"], step_id
        if "data" in step:
            assert set(step["data"]) == set(step["data_description"]), step_id
    for step_id, options in FLOW.menu_options.items():
        assert options <= set(EN["config"]["step"][step_id]["menu_options"]), step_id
    assert FLOW.progress_actions <= set(EN["config"].get("progress", {}))


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


def test_library_buttons_device_and_action_have_texts_and_icons() -> None:
    assert EN["entity"]["button"][LIBRARY_KEY]["name"] == "Refresh {title}"
    assert set(EN["entity"]["button"][LIBRARY_KEY]["state_attributes"]) == {
        "refreshing",
        "library_key",
        "locations",
    }
    assert "{server}" in EN["device"][LIBRARIES_DEVICE_KEY]["name"]
    assert ICONS["entity"]["button"][LIBRARY_KEY]["default"].startswith("mdi:")
    service = EN["services"]["refresh_library"]
    services = yaml.safe_load((PACKAGE / "services.yaml").read_text())
    assert set(service["fields"]) == set(services["refresh_library"]["fields"])
    assert set(service["fields"]) == {"config_entry_id", "library", "path", "force"}
    assert ICONS["services"]["refresh_library"]["service"].startswith("mdi:")
