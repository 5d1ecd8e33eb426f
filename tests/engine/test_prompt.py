"""The capability manifest and the generated system prompt."""

from __future__ import annotations

from sa3p_engine import FUZZY_THRESHOLD, Limits, build_manifest, generate_system_prompt

from .engine_helpers import make_engine


def test_manifest_lists_every_command_and_the_limits() -> None:
    engine, _, _ = make_engine(limits=Limits(read_max_lines=123))
    manifest = engine.capability_manifest()
    assert manifest.command_names == (
        "write_file",
        "read_file",
        "list_files",
        "terminal",
        "terminal_signal",
        "apply_edit",
        "apply_patch",
    )
    assert manifest.limits.read_max_lines == 123
    assert manifest.fuzzy_threshold == FUZZY_THRESHOLD
    assert manifest.edit_formats == ("search_replace", "conflict_markers", "unified_diff")
    assert "SIGINT" in manifest.signals
    required = {
        command.name: [a.name for a in command.attributes if a.required]
        for command in manifest.commands
    }
    assert required["terminal_signal"] == ["pid", "signal"] and required["list_files"] == []


def test_prompt_teaches_formats_escape_and_limits() -> None:
    prompt = generate_system_prompt(build_manifest(Limits(read_max_lines=77)))
    for needle in (
        "<![CDATA[",
        "markdown code",
        "<<<<<<< SEARCH",
        "@@",
        "expected_sha256",
        "at most 77 lines",
        "0.85",
        '<terminal_signal pid="1234" signal="SIGINT"/>',
        "raw",
        "literal",
    ):
        assert needle in prompt, needle
    assert generate_system_prompt() == generate_system_prompt(build_manifest())


def test_prompt_describes_apply_patch_expected_replacements_and_the_preferred_format() -> None:
    prompt = generate_system_prompt()
    for needle in (
        "### apply_patch:",
        "*** Begin Patch",
        "*** Update File:",
        "*** Move to:",
        "*** End of File",
        "expected_replacements",
        "Prefer apply_edit with <search>/<replace> pairs",
        "Use apply_patch when one change spans several files",
    ):
        assert needle in prompt, needle
    manifest = build_manifest()
    assert manifest.patch_formats == ("v4a",)
    [patch] = [spec for spec in manifest.commands if spec.name == "apply_patch"]
    assert patch.attributes == ()
    [apply_edit] = [spec for spec in manifest.commands if spec.name == "apply_edit"]
    assert [a.name for a in apply_edit.attributes] == [
        "path",
        "expected_sha256",
        "expected_replacements",
    ]


def test_prompt_teaches_the_turn_and_the_shell() -> None:
    prompt = " ".join(generate_system_prompt().split())  # the rules, whatever the line breaks
    for needle in (
        "while you are still writing",  # commands run as they close...
        "at the start of your next turn",  # ...results come back only next turn
        "never guess one",
        "end your reply right after that command",
        "a fresh `bash -c` in the workspace root",
        "`cd`, `export`, variables and functions do not carry over",
        "stdin is empty and there is no TTY",
        "`set -o pipefail;`",
        "keeps running",
        '`<terminal pid="N"/>`',
        "DENIED",  # a policy's refusal, and what to do about it
        "approval",
    ):
        assert needle in prompt, needle
