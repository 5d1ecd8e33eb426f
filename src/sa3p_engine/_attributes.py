"""Reading a command's attributes into typed values, with messages that say what to write.

Each reader returns the value, or an ``AttributeProblem`` naming the attribute, what was wrong
and an example of a correct tag; the engine turns a problem into a failed output.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sa3p_engine._output_codes import OutputCode

__all__ = [
    "HASH_PREFIX_MIN",
    "SIGNALS",
    "AttributeProblem",
    "optional_int",
    "optional_seconds",
    "required_path",
    "sha256_attribute",
    "signal_attribute",
    "unknown_attributes",
]

SIGNALS: Mapping[str, int] = {
    "SIGHUP": 1,
    "SIGINT": 2,
    "SIGQUIT": 3,
    "SIGKILL": 9,
    "SIGUSR1": 10,
    "SIGUSR2": 12,
    "SIGTERM": 15,
}
"""The signals a model may send, with their POSIX (Linux) numbers; the wire carries numbers."""

HASH_PREFIX_MIN = 12
"""The fewest hex digits ``expected_sha256`` may give (48 bits: a prefix that short is already
unique among any workspace's contents); rendered text shows 16."""

_HEX = re.compile(r"[0-9a-fA-F]{1,64}")
_INTEGER = re.compile(r"[+-]?\d+")
_MAX_DIGITS = 18
_NO_BOUND = -(10**9)
"""A ``minimum`` below this is not a rule the model must know (e.g. read_file clamps any line
number with a warning), so messages do not mention it."""


@dataclass(frozen=True, slots=True)
class AttributeProblem:
    """A missing or invalid attribute: ``message`` says which, why and how to fix it."""

    message: str
    code: OutputCode = OutputCode.BAD_ATTRIBUTE


def required_path(command: str, attributes: Mapping[str, str]) -> str | AttributeProblem:
    path = attributes.get("path")
    if path is None or not path.strip():
        return AttributeProblem(f'missing attribute path: write <{command} path="relative/path" …>')
    return path.strip()


def optional_int(
    command: str, attributes: Mapping[str, str], name: str, *, minimum: int = 1
) -> int | AttributeProblem | None:
    raw = attributes.get(name)
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    example = f'write {name}="{max(minimum, 1)}"'
    if not _INTEGER.fullmatch(text):
        what = "an integer" if minimum <= _NO_BOUND else f"an integer >= {minimum}"
        return AttributeProblem(f'{name}="{raw}" is not {what} (in <{command}>): {example}')
    if len(text.lstrip("+-")) > _MAX_DIGITS:
        return AttributeProblem(f'{name}="{raw}" is too large (in <{command}>): {example}')
    if int(text) < minimum:
        return AttributeProblem(
            f'{name}="{raw}" is not an integer >= {minimum} (in <{command}>): {example}'
        )
    return int(text)


def optional_seconds(
    command: str, attributes: Mapping[str, str], name: str
) -> float | AttributeProblem | None:
    raw = attributes.get(name)
    if raw is None or not raw.strip():
        return None
    try:
        value = float(raw.strip().removesuffix("s"))
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        return AttributeProblem(
            f'{name}="{raw}" is not a positive number of seconds (in <{command}>): '
            f'write {name}="30"'
        )
    return value


def unknown_attributes(
    command: str, attributes: Mapping[str, str], accepted: Sequence[str]
) -> AttributeProblem | None:
    """A problem naming every attribute of ``attributes`` that ``command`` does not accept.

    An unknown attribute is an error, never ignored: ``<terminal timeout_s="120">`` must not run
    with the default timeout.
    """
    unknown = [name for name in attributes if name not in accepted]
    if not unknown:
        return None
    names = ", ".join(f'{name}="{attributes[name]}"' for name in unknown)
    noun = "attribute" if len(unknown) == 1 else "attributes"
    allowed = f"it accepts {', '.join(accepted)}" if accepted else "it takes no attributes"
    return AttributeProblem(
        f"unknown {noun} {names} in <{command}> ({allowed}); the command was not run",
        OutputCode.UNKNOWN_ATTRIBUTE,
    )


def sha256_attribute(attributes: Mapping[str, str]) -> str | AttributeProblem | None:
    """``expected_sha256`` in lower case: a whole SHA-256 or a prefix of at least
    ``HASH_PREFIX_MIN`` hex digits (rendered text shows 16)."""
    raw = attributes.get("expected_sha256")
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    if not _HEX.fullmatch(text):
        return AttributeProblem(
            f'expected_sha256="{raw}" is not a SHA-256 (hex digits, 16 are shown); copy it '
            f"from read_file"
        )
    if len(text) < HASH_PREFIX_MIN:
        return AttributeProblem(
            f'expected_sha256="{raw}" is ambiguous: {len(text)} hex digits could name many '
            f"contents; give at least {HASH_PREFIX_MIN} (copy the 16 read_file shows)",
            OutputCode.AMBIGUOUS_HASH,
        )
    return text.lower()


def signal_attribute(attributes: Mapping[str, str]) -> tuple[str, int] | AttributeProblem:
    """The signal's canonical name and number; names with or without ``SIG``, or numbers."""
    raw = attributes.get("signal", "").strip()
    name = raw.upper()
    if name and not name.startswith("SIG") and not name.isdigit():
        name = f"SIG{name}"
    if name in SIGNALS:
        return name, SIGNALS[name]
    by_number = {number: key for key, number in SIGNALS.items()}
    if name.isdigit() and int(name) in by_number:
        return by_number[int(name)], int(name)
    allowed = ", ".join(SIGNALS)
    what = f'signal="{raw}" is not allowed' if raw else "missing attribute signal"
    return AttributeProblem(f"{what}: use one of {allowed} (or its number)")
