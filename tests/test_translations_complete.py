"""Every language we ship says everything en.json says, with the same placeholders.

en.json is the source: a key it has and a translation lacks would show that
language's users English (or a raw key), and a placeholder a translation drops
or renames would show them a hole or ``{server}`` instead of the server's name.
The languages are fixed here, so a missing file, a new English string without
its translations, or a string left in English fails the test for that language.
"""

from __future__ import annotations

import json
from pathlib import Path
import string
from typing import Any

import pytest

TRANSLATIONS = (
    Path(__file__).parent.parent / "custom_components" / "plex_butler" / "translations"
)
LANGUAGES = ("de", "es", "fr", "it", "nl", "pl", "pt-BR", "sv", "da", "nb")

# Strings that may read exactly as in English: placeholders only, or words the
# language itself uses unchanged. Keyed by (language or "*", dotted key). Keep
# it short: everything else a user reads must be in their language.
SAME_AS_ENGLISH: frozenset[tuple[str, str]] = frozenset(
    {
        ("*", "config.flow_title"),  # "{name}": the discovered server's name
        # "Server" is the word these languages use too.
        ("de", "services.start_task.fields.config_entry_id.name"),
        ("nl", "services.start_task.fields.config_entry_id.name"),
        ("da", "services.start_task.fields.config_entry_id.name"),
        ("sv", "services.start_task.fields.config_entry_id.name"),
        ("nb", "services.start_task.fields.config_entry_id.name"),
        ("it", "services.start_task.fields.config_entry_id.name"),
        ("it", "config.step.server.data.server"),
        ("it", "services.stop_task.fields.config_entry_id.name"),
        ("it", "services.start_all_tasks.fields.config_entry_id.name"),
        ("it", "services.stop_all_tasks.fields.config_entry_id.name"),
        ("it", "services.refresh_library.fields.config_entry_id.name"),
        # "Server" in the new steps and actions (de, nl, da, sv say it so too).
        ("de", "config.step.server.data.server"),
        ("de", "services.stop_task.fields.config_entry_id.name"),
        ("de", "services.start_all_tasks.fields.config_entry_id.name"),
        ("de", "services.stop_all_tasks.fields.config_entry_id.name"),
        ("de", "services.refresh_library.fields.config_entry_id.name"),
        ("nl", "config.step.server.data.server"),
        ("nl", "services.stop_task.fields.config_entry_id.name"),
        ("nl", "services.start_all_tasks.fields.config_entry_id.name"),
        ("nl", "services.stop_all_tasks.fields.config_entry_id.name"),
        ("nl", "services.refresh_library.fields.config_entry_id.name"),
        ("da", "config.step.server.data.server"),
        ("da", "services.stop_task.fields.config_entry_id.name"),
        ("da", "services.start_all_tasks.fields.config_entry_id.name"),
        ("da", "services.stop_all_tasks.fields.config_entry_id.name"),
        ("da", "services.refresh_library.fields.config_entry_id.name"),
        ("sv", "config.step.server.data.server"),
        ("sv", "services.stop_task.fields.config_entry_id.name"),
        ("sv", "services.start_all_tasks.fields.config_entry_id.name"),
        ("sv", "services.stop_all_tasks.fields.config_entry_id.name"),
        ("sv", "services.refresh_library.fields.config_entry_id.name"),
        # "Server" in the new steps and actions (nb says it so too).
        ("nb", "config.step.server.data.server"),
        ("nb", "services.stop_task.fields.config_entry_id.name"),
        ("nb", "services.start_all_tasks.fields.config_entry_id.name"),
        ("nb", "services.stop_all_tasks.fields.config_entry_id.name"),
        ("nb", "services.refresh_library.fields.config_entry_id.name"),
        # "Type" (of an activity) is the French and Norwegian word too.
        ("fr", "entity.event.activity.state_attributes.type.name"),
        ("nb", "entity.event.activity.state_attributes.type.name"),
        # "Folder" is the usual Polish word (as in Windows and Plex).
        ("pl", "services.refresh_library.fields.path.name"),
    }
)

EN: dict[str, Any] = json.loads((TRANSLATIONS / "en.json").read_text("utf-8"))


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """The leaves of a translation tree by dotted key, e.g. ``config.step.user.title``."""
    leaves: dict[str, Any] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            leaves.update(_flatten(value, f"{path}."))
        else:
            leaves[path] = value
    return leaves


EN_STRINGS = _flatten(EN)


def _placeholders(text: str) -> set[str]:
    """The ``{name}`` fields of a string, as Home Assistant's frontend fills them."""
    return {
        field for _, field, _, _ in string.Formatter().parse(text) if field is not None
    }


def _load(language: str) -> dict[str, Any]:
    """A language's strings by dotted key; fails naming the file if it cannot be read."""
    path = TRANSLATIONS / f"{language}.json"
    assert path.is_file(), (
        f"translations/{language}.json is missing: copy en.json and translate its values"
    )
    try:
        tree = json.loads(path.read_text("utf-8"))
    except ValueError as err:
        pytest.fail(f"translations/{language}.json is not valid JSON: {err}")
    assert isinstance(tree, dict), f"translations/{language}.json is not a JSON object"
    return _flatten(tree)


def test_languages_are_the_ten_we_promise() -> None:
    """No translation file exists that the tests below do not check."""
    shipped = {path.stem for path in TRANSLATIONS.glob("*.json")} - {"en"}
    assert shipped <= set(LANGUAGES), (
        f"unchecked translation files: {sorted(shipped - set(LANGUAGES))}; "
        "add them to LANGUAGES in tests/test_translations_complete.py"
    )


def test_english_strings_are_text() -> None:
    """The source has only strings as leaves, so the rules below can compare them."""
    assert all(isinstance(text, str) and text for text in EN_STRINGS.values())


@pytest.mark.parametrize("language", LANGUAGES)
def test_same_keys_as_english(language: str) -> None:
    """Exactly en.json's keys: none missing (untranslated), none extra (stale)."""
    strings = _load(language)
    missing = sorted(EN_STRINGS.keys() - strings.keys())
    extra = sorted(strings.keys() - EN_STRINGS.keys())
    problems = [f"  missing: {key}" for key in missing]
    problems += [f"  extra (not in en.json): {key}" for key in extra]
    assert not problems, f"translations/{language}.json:\n" + "\n".join(problems)


@pytest.mark.parametrize("language", LANGUAGES)
def test_same_placeholders_as_english(language: str) -> None:
    """Each string keeps exactly its English original's ``{placeholders}``."""
    strings = _load(language)
    problems = []
    for key, english in EN_STRINGS.items():
        text = strings.get(key)
        if text is None:
            continue  # reported by test_same_keys_as_english
        if not isinstance(text, str):
            problems.append(f"  {key}: not a string: {text!r}")
            continue
        try:
            found = _placeholders(text)
        except ValueError as err:
            problems.append(f"  {key}: unbalanced braces ({err})")
            continue
        expected = _placeholders(english)
        if found != expected:
            problems.append(
                f"  {key}: has {sorted(found)}, English has {sorted(expected)}"
            )
    assert not problems, f"translations/{language}.json:\n" + "\n".join(problems)


@pytest.mark.parametrize("language", LANGUAGES)
def test_strings_are_translated(language: str) -> None:
    """No string is left in English, except the few listed in SAME_AS_ENGLISH."""
    strings = _load(language)
    left_in_english = sorted(
        key
        for key, english in EN_STRINGS.items()
        if strings.get(key) == english
        and (language, key) not in SAME_AS_ENGLISH
        and ("*", key) not in SAME_AS_ENGLISH
    )
    assert not left_in_english, (
        f"translations/{language}.json has English text (translate it, or add "
        "(language, key) to SAME_AS_ENGLISH if the language really says it so):\n"
        + "\n".join(f"  {key}: {EN_STRINGS[key]!r}" for key in left_in_english)
    )


def test_allow_list_names_real_keys() -> None:
    """SAME_AS_ENGLISH stays short and current: every entry is a key and a language."""
    for language, key in SAME_AS_ENGLISH:
        assert language == "*" or language in LANGUAGES, (language, key)
        assert key in EN_STRINGS, f"SAME_AS_ENGLISH lists {key}, not in en.json"


def test_placeholder_parser_sees_fields() -> None:
    """The placeholder rule compares names, so a renamed one is caught."""
    assert _placeholders('{server} has no task "{task}"') == {"server", "task"}
    assert _placeholders("no fields") == set()
