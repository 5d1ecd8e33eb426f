"""The engine's limits, in one value shared by the commands, the manifest and the prompt."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Limits"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Every bound the engine applies to one command.

    Attributes:
        terminal_timeout: seconds a ``terminal`` command runs before it is detached, by default.
        max_terminal_timeout: the most a ``timeout`` attribute may ask for (larger is capped).
        terminal_output_bytes: output shown per terminal command (head and tail kept).
        max_command_bytes: the longest terminal command line accepted.
        read_max_lines: lines served per ``read_file``.
        read_max_bytes: bytes served per ``read_file``.
        read_block_bytes: bytes asked of the filesystem per ``read`` call.
        list_max_lines: lines per ``list_files`` listing.
        edit_max_bytes: largest file ``apply_edit`` works on (and largest edit body).
        recent_files: files shown in the state header.
        diff_max_lines: lines of diff shown in an ``apply_edit`` or ``apply_patch`` result.
        turn_output_bytes: rendered result text one turn delivers in full (about 100,000 tokens:
            what a model can usefully read in one observation); later results of the turn are
            one status line each.
    """

    terminal_timeout: float = 30.0
    max_terminal_timeout: float = 600.0
    terminal_output_bytes: int = 20_000
    max_command_bytes: int = 64 * 1024
    read_max_lines: int = 500
    read_max_bytes: int = 50_000
    read_block_bytes: int = 1024 * 1024
    list_max_lines: int = 200
    edit_max_bytes: int = 16 * 1024 * 1024
    recent_files: int = 10
    diff_max_lines: int = 80
    turn_output_bytes: int = 400_000

    def __post_init__(self) -> None:
        for name in self.__slots__:
            if getattr(self, name) <= 0:
                raise ValueError(f"Limits.{name} must be positive")
        if self.terminal_timeout > self.max_terminal_timeout:
            raise ValueError("terminal_timeout must not exceed max_terminal_timeout")
