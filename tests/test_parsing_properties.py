"""Property tests of the client's parsers: any answer is a result or a PlexError.

A server, a proxy or a captive portal can send anything. Whatever arrives,
``parse_body`` followed by ``parse_tasks`` or ``parse_server`` must give a
usable result or raise one of the client's typed errors, which the coordinator
turns into "unavailable"; anything else would escape as an unexpected error.

And a task list the simulator would render, as JSON or as XML, must parse
back to exactly the tasks it was made from.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings, strategies as st
import pytest

from custom_components.plex_butler.api import (
    ButlerTask,
    PlexError,
    PlexServer,
    parse_body,
    parse_server,
    parse_tasks,
)

from .plex_simulator import _xml_attrs

# Bounded, reproducible and silent: no example database in the repository.
BOUNDED = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# Keys the parsers look for, so generated data often reaches deep code paths.
KEYS = (
    "ButlerTasks",
    "ButlerTask",
    "MediaContainer",
    "Directory",
    "name",
    "title",
    "description",
    "interval",
    "enabled",
    "scheduleRandomized",
    "machineIdentifier",
    "friendlyName",
    "version",
    "platform",
)
CONTENT_TYPES = (
    "application/json",
    "application/json; charset=utf-8",
    "text/xml;charset=utf-8",
    "application/xml",
    "text/html",
    "text/plain",
    "",
)

keys = st.sampled_from(KEYS) | st.text(max_size=6)
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=10)
    | st.sampled_from(["0", "1", "true", "false", " 7 ", "", "  "])
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=5)
    ),
    max_leaves=30,
)

# XML names and text that XML 1.0 can carry at all.
xml_names = st.sampled_from(KEYS) | st.text(alphabet="abXY_", min_size=1, max_size=4)
xml_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Cn")), max_size=12
)


@st.composite
def xml_elements(draw: st.DrawFn, depth: int = 2) -> str:
    """A well-formed element whose attributes may clash with its child tags."""
    tag = draw(xml_names)
    attrs = draw(st.dictionaries(xml_names, xml_text | scalars, max_size=4))
    children = (
        draw(st.lists(xml_elements(depth=depth - 1), max_size=3)) if depth else []
    )
    opening = f"{tag} {_xml_attrs(attrs)}".rstrip()
    if not children:
        return f"<{opening}/>"
    return f"<{opening}>{''.join(children)}</{tag}>"


@st.composite
def xmlish(draw: st.DrawFn) -> str:
    """Well-formed XML, XML cut short, or XML with junk spliced in."""
    document = draw(xml_elements())
    if draw(st.booleans()):
        document = '<?xml version="1.0" encoding="UTF-8"?>\n' + document
    mutation = draw(st.sampled_from(["none", "truncate", "splice", "append"]))
    if mutation == "truncate":
        document = document[: draw(st.integers(0, len(document)))]
    elif mutation == "splice":
        at = draw(st.integers(0, len(document)))
        document = document[:at] + draw(st.text(max_size=8)) + document[at:]
    elif mutation == "append":
        document += draw(st.text(max_size=8))
    return document


def _parse_everything(body: bytes, content_type: str) -> None:
    """Run every parser on one answer; only results and PlexErrors may come out."""
    try:
        data = parse_body(body, content_type)
    except PlexError:
        return
    assert isinstance(data, dict)
    try:
        tasks = parse_tasks(data)
    except PlexError:
        pass
    else:
        names = [task.name for task in tasks]
        assert all(isinstance(task, ButlerTask) for task in tasks)
        assert all(name and name == name.strip() for name in names)
        assert len(names) == len(set(names))
    try:
        server = parse_server(data)
    except PlexError:
        pass
    else:
        assert isinstance(server, PlexServer)
        assert server.machine_identifier
        assert server.friendly_name


@BOUNDED
@given(value=json_values, content_type=st.sampled_from(CONTENT_TYPES))
def test_any_json_parses_or_raises_plex_error(value: Any, content_type: str) -> None:
    _parse_everything(json.dumps(value).encode(), content_type)


@BOUNDED
@given(
    value=json_values,
    wrapper=st.sampled_from(["ButlerTasks", "MediaContainer"]),
    content_type=st.sampled_from(CONTENT_TYPES),
)
def test_any_json_under_a_known_root_parses_or_raises_plex_error(
    value: Any, wrapper: str, content_type: str
) -> None:
    """Under the roots the parsers look for, junk reaches the field readers."""
    body = {wrapper: {"ButlerTask": value, "machineIdentifier": value}}
    _parse_everything(json.dumps(body).encode(), content_type)


@BOUNDED
@given(text=xmlish(), content_type=st.sampled_from(CONTENT_TYPES))
def test_any_xmlish_text_parses_or_raises_plex_error(
    text: str, content_type: str
) -> None:
    _parse_everything(text.encode(), content_type)


@BOUNDED
@given(body=st.binary(max_size=200), content_type=st.sampled_from(CONTENT_TYPES))
def test_any_bytes_parse_or_raise_plex_error(body: bytes, content_type: str) -> None:
    _parse_everything(body, content_type)


@pytest.mark.parametrize(
    "text",
    [
        # An attribute named like a child element: Plex never sends it, but
        # anything may answer at the configured address.
        '<ButlerTasks ButlerTask="x"><ButlerTask name="A"/></ButlerTasks>',
        '<MediaContainer Directory="1"><Directory key="butler"/></MediaContainer>',
    ],
)
def test_attribute_named_like_a_child_element_is_not_a_crash(text: str) -> None:
    """Found by the XML property: it used to raise AttributeError."""
    _parse_everything(text.encode(), "text/xml")


# --- round trip ------------------------------------------------------------------

clean_text = xml_text.map(str.strip).filter(bool)


@st.composite
def butler_tasks(draw: st.DrawFn) -> ButlerTask:
    """A task as a healthy server describes it: every field present."""
    return ButlerTask(
        name=draw(clean_text),
        title=draw(clean_text),
        description=draw(clean_text),
        interval_days=draw(st.integers(-(10**9), 10**9)),
        enabled=draw(st.booleans()),
        schedule_randomized=draw(st.booleans()),
    )


def _as_item(task: ButlerTask) -> dict[str, Any]:
    """The task as the simulator puts it into ``GET /butler``."""
    return {
        "name": task.name,
        "interval": task.interval_days,
        "scheduleRandomized": task.schedule_randomized,
        "enabled": task.enabled,
        "title": task.title,
        "description": task.description,
    }


def _render_json(tasks: list[ButlerTask]) -> bytes:
    body: dict[str, Any] = {}
    if tasks:
        body["ButlerTask"] = [_as_item(task) for task in tasks]
    return json.dumps({"ButlerTasks": body}).encode()


def _render_xml(tasks: list[ButlerTask]) -> bytes:
    items = "".join(f"<ButlerTask {_xml_attrs(_as_item(task))}/>" for task in tasks)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<ButlerTasks >{items}</ButlerTasks>'
    ).encode()


task_lists = st.lists(butler_tasks(), max_size=6, unique_by=lambda task: task.name)


@BOUNDED
@given(tasks=task_lists)
def test_tasks_round_trip_through_json_and_xml(tasks: list[ButlerTask]) -> None:
    assert parse_tasks(parse_body(_render_json(tasks), "application/json")) == tasks
    assert parse_tasks(parse_body(_render_xml(tasks), "text/xml")) == tasks


@BOUNDED
@given(task=butler_tasks())
def test_a_lone_task_object_reads_as_a_one_item_list(task: ButlerTask) -> None:
    """Plex sends a one-item list as a bare object in JSON."""
    body = json.dumps({"ButlerTasks": {"ButlerTask": _as_item(task)}}).encode()
    assert parse_tasks(parse_body(body, "application/json")) == [task]
