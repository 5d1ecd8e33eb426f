"""The capability manifest (what an engine accepts) and the system prompt generated from it."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from sa3p_engine._attributes import SIGNALS
from sa3p_engine._fuzzy_tier import FUZZY_MIN_CHARS, FUZZY_THRESHOLD
from sa3p_engine._limits import Limits

__all__ = [
    "AttributeSpec",
    "CapabilityManifest",
    "CommandSpec",
    "accepted_attributes",
    "build_manifest",
    "generate_system_prompt",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class AttributeSpec:
    """One attribute of a command."""

    name: str
    required: bool
    description: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandSpec:
    """One command: its tag, attributes, body and an example."""

    name: str
    description: str
    attributes: tuple[AttributeSpec, ...]
    body: str
    example: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CapabilityManifest:
    """Everything a model (or a host) needs to know about what this engine accepts."""

    commands: tuple[CommandSpec, ...]
    limits: Limits
    edit_formats: tuple[str, ...]
    edit_tiers: tuple[str, ...]
    fuzzy_threshold: float
    signals: tuple[str, ...]
    patch_formats: tuple[str, ...] = ("v4a",)
    patch_tiers: tuple[str, ...] = ("exact", "trailing_whitespace", "whitespace", "punctuation")

    @property
    def command_names(self) -> tuple[str, ...]:
        return tuple(command.name for command in self.commands)


def _attribute(name: str, description: str, *, required: bool = False) -> AttributeSpec:
    return AttributeSpec(name=name, required=required, description=description)


def _commands(limits: Limits) -> tuple[CommandSpec, ...]:
    path = _attribute("path", "file path, relative to the workspace root", required=True)
    return (
        CommandSpec(
            name="write_file",
            description="create or replace a file; written atomically when the tag closes",
            attributes=(path,),
            body="the exact file content (raw: nothing is decoded or trimmed)",
            example='<write_file path="src/app.py">\nprint("hi")\n</write_file>',
        ),
        CommandSpec(
            name="read_file",
            description=(
                f"show numbered lines, at most {limits.read_max_lines} lines / "
                f"{limits.read_max_bytes} bytes per read, with total lines, size and sha256"
            ),
            attributes=(
                path,
                _attribute("start_line", "first line, 1-based (default 1)"),
                _attribute("end_line", "last line, inclusive (default: the end)"),
            ),
            body="none",
            example='<read_file path="src/app.py" start_line="10" end_line="40"/>',
        ),
        CommandSpec(
            name="list_files",
            description=(
                f"the file tree (at most {limits.list_max_lines} lines; dense directories show "
                f"a file count; * marks files modified in the last 24 h)"
            ),
            attributes=(_attribute("path", 'directory to list (default ".")'),),
            body="none",
            example='<list_files path="src"/>',
        ),
        CommandSpec(
            name="terminal",
            description=(
                f"run a shell command in the workspace; output, exit code and duration come "
                f"back (at most {limits.terminal_output_bytes} bytes shown, head and tail). "
                f"A command still running at its timeout keeps running: its pid comes back"
            ),
            attributes=(
                _attribute(
                    "timeout",
                    f"seconds to wait (default {limits.terminal_timeout:g}, "
                    f"max {limits.max_terminal_timeout:g})",
                ),
                _attribute("pid", "with an empty body: read later output of that process"),
            ),
            body="the shell command (raw)",
            example='<terminal timeout="120">pytest -q</terminal>\n<terminal pid="1234"/>',
        ),
        CommandSpec(
            name="terminal_signal",
            description="signal a process this terminal started; says whether it exited",
            attributes=(
                _attribute("pid", "the process id", required=True),
                _attribute("signal", ", ".join(SIGNALS) + " (name or number)", required=True),
            ),
            body="none",
            example='<terminal_signal pid="1234" signal="SIGINT"/>',
        ),
        CommandSpec(
            name="apply_edit",
            description="replace text in one file; every edit of one command applies or none does",
            attributes=(
                path,
                _attribute("expected_sha256", "refuse if the file changed since you read it"),
                _attribute(
                    "expected_replacements",
                    "replace every match of each search, which must match exactly this many "
                    "times (default 1)",
                ),
            ),
            body=(
                "<search>old</search><replace>new</replace> pairs, or <<<<<<< SEARCH / ======= "
                "/ >>>>>>> REPLACE blocks, or unified diff hunks"
            ),
            example=(
                '<apply_edit path="src/app.py">\n<search>\nprint("hi")\n</search>\n'
                '<replace>\nprint("hello")\n</replace>\n</apply_edit>'
            ),
        ),
        CommandSpec(
            name="apply_patch",
            description=(
                "add, delete, move and update several files at once; the whole patch applies "
                "or nothing changes"
            ),
            attributes=(),
            body="a V4A patch, *** Begin Patch … *** End Patch (raw)",
            example=(
                "<apply_patch>\n*** Begin Patch\n*** Update File: src/app.py\n"
                '@@ def main():\n-    print("hi")\n+    print("hello")\n'
                "*** Add File: src/util.py\n+VALUE = 1\n*** End Patch\n</apply_patch>"
            ),
        ),
    )


@functools.cache
def accepted_attributes(command: str) -> tuple[str, ...]:
    """The attribute names ``command`` accepts (none for a tag that is not a command)."""
    for spec in _commands(Limits()):
        if spec.name == command:
            return tuple(attribute.name for attribute in spec.attributes)
    return ()


def build_manifest(limits: Limits | None = None) -> CapabilityManifest:
    """The manifest of an engine with ``limits`` (the defaults when None)."""
    limits = limits or Limits()
    return CapabilityManifest(
        commands=_commands(limits),
        limits=limits,
        edit_formats=("search_replace", "conflict_markers", "unified_diff"),
        edit_tiers=("exact", "trailing_whitespace", "whitespace", "punctuation", "fuzzy"),
        fuzzy_threshold=FUZZY_THRESHOLD,
        signals=tuple(SIGNALS),
    )


_SYNTAX = """\
## How to act
Write commands as XML-style tags in your reply; each runs as soon as its closing tag arrives,
in order, while you are still writing, and you see every result at the start of your next turn
(after a [state] header with the working directory, recently used files with their sha256, and
running process ids). You see no result in the reply that gave the command: never guess one.
When what you do next depends on a result (a test run, a file's content), end your reply right
after that command and go on when the results arrive.

Rules:
- Bodies of write_file, terminal, search, replace and apply_patch are raw: taken byte for
  byte, with no entity decoding (write `&amp;` to get `&amp;` in a file). One newline right
  after the opening tag is dropped, so the content may start on its own line.
- If a body must contain its own closing tag (e.g. a file that contains `</write_file>`), wrap
  the whole body in `<![CDATA[` … `]]>`: everything between is taken literally.
- Attribute values are quoted ("…" or '…'); `&quot;` `&amp;` `&lt;` work inside them. Use only
  the attributes listed below: a command with an unknown attribute is not run.
- A command inside markdown code (`inline` or a ``` fence) is only shown, never run: write
  commands outside code.
- Close every command before the next one. A command cut off (reply ended early) does nothing:
  a partial write_file writes nothing.
"""

_SHELL = """\
## The terminal
- Each terminal command is a fresh `bash -c` in the workspace root: `cd`, `export`, variables
  and functions do not carry over to the next command (write `cd sub && make` each time).
- stdin is empty and there is no TTY: a prompt reads end-of-file, so pass `-y`, `--no-pager`...
  stdout and stderr come back merged, with the exit code.
- A pipe reports its last command's exit code (`pytest | tail` shows 0 when tests fail): start
  with `set -o pipefail;` when a pipe must not hide a failure.
- A command still running at its timeout keeps running (servers, watchers, long builds): its
  pid comes back and stays in the [state] header while it runs. `<terminal pid="N"/>` shows
  what it printed since, waiting up to its timeout for it to end; terminal_signal stops it.
"""

_EDITS = """\
## Editing files
Prefer apply_edit with <search>/<replace> pairs for changes to one file: the search is the
exact text to replace (no line prefixes to get wrong), matching tolerates whitespace drift, and
every edit is checked to match one place. Use apply_patch when one change spans several files,
or adds, deletes or moves files: it applies all of them or none. Use write_file for new files
and large rewrites.

### apply_edit
- Give the current text in <search> and its replacement in <replace>; several pairs may follow
  each other in one apply_edit. Or use `<<<<<<< SEARCH` / `=======` / `>>>>>>> REPLACE` blocks,
  or unified diff hunks (`@@ … @@` or `@@ <a line above the change>`, ` ` context, `-` old,
  `+` new; line numbers are hints). A diff's context lines only locate the change: they are
  never written. Anything else in the body (prose, a broken marker) refuses the edit.
- The search must match exactly one place (or exactly expected_replacements places, all
  replaced). Matching tries exact text, then ignores trailing whitespace, CRLF/LF and a uniform
  indentation shift (your replacement is re-indented), then (for searches of {min_chars}+
  characters, one place only) a fuzzy match of similarity >= {threshold:.2f}. Ambiguous or
  missing matches are refused with the candidate line numbers or the closest region.
- Replacement text is literal (no regex: `$1`, `\\1` stay as written). Line endings and tabs
  are kept. Add expected_sha256 (from read_file) to refuse edits to a file that changed.

### apply_patch
```
*** Begin Patch
*** Add File: path/new.py
+every line of the new file, prefixed with +
*** Delete File: path/old.py
*** Update File: path/app.py
*** Move to: path/main.py
@@ class App:
@@     def run(self):
 context line (a space, then the line as it is)
-line to remove
+line to add
*** End of File
*** End Patch
```
- Each chunk of an update is located by its context and `-` lines (exact, then ignoring
  whitespace, then typographic punctuation); `@@ <line>` anchors narrow where (several, outer
  first). Give 3 lines of context around each change. Chunks go in file order. Lines with only
  `+` go right after their `@@` anchor (or at the end with `*** End of File`).
- A chunk that matches several places, an Add onto an existing file or a Move onto one is
  refused, naming the lines; the patch then changes nothing.
"""


_RESULTS = """\
## Denied commands, approvals and long turns
- The workspace may have a policy. A command it forbids is not run and its result says
  `DENIED`, naming the rule: that is the owner's decision, not an error. Do not retry it, and do
  not reach the same result another way (another path or spelling, the terminal); go on without
  it, or tell the user what you need and why.
- Some commands wait for a person's approval; if they refuse, or no one can be asked (an
  automated run), the result says `DENIED` and why: the command did nothing. Do not retry it as
  it is.
- A turn's results are shown in full up to about {budget} bytes; after a notice, each further
  result is one status line (its output not shown). Ask for less in one reply and repeat what
  you still need to see.
"""


def generate_system_prompt(capabilities: CapabilityManifest | None = None) -> str:
    """The prompt that teaches a model the commands, their formats and limits.

    Args:
        capabilities: the manifest to describe; the default engine's when None.
    """
    manifest = capabilities or build_manifest()
    lines = [
        "You work in a workspace through the commands below.",
        "",
        _SYNTAX,
        "## Commands",
    ]
    for command in manifest.commands:
        lines.append(f"### {command.name}: {command.description}")
        for attribute in command.attributes:
            need = "required" if attribute.required else "optional"
            lines.append(f"- {attribute.name} ({need}): {attribute.description}")
        lines.append(f"- body: {command.body}")
        lines += ["Example:", command.example, ""]
    lines.append(_SHELL)
    lines.append(_EDITS.format(threshold=manifest.fuzzy_threshold, min_chars=FUZZY_MIN_CHARS))
    lines.append(_RESULTS.format(budget=f"{manifest.limits.turn_output_bytes:,}"))
    return "\n".join(lines)
