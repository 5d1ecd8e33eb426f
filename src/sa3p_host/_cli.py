"""The ``sa3p`` command: ``sa3p run``, ``sa3p session``, ``sa3p history``, ``sa3p undo``,
``sa3p prompt``, ``sa3p schema`` and ``sa3p serve``.

Argument parsing (``build_parser`` → a frozen options value) is kept apart from execution (one
small ``execute_*`` function per subcommand; ``sa3p run``'s in ``_run_command.py``), so a
subcommand or an option is added in one place.
Exit status (docs/COMMANDS.md, "Exit status"): 0 when the stream was processed (failed,
denied and quoted commands are results, not failures of sa3p); 1 when sa3p could not do its
job: the input could not be read, the guest could not be reached or refused the token (nothing
was executed), the guest was lost during the run (stderr says what ran and what did not), the
output was closed or sa3p was interrupted (SIGINT/SIGTERM; every process it started is ended
first); 2 for bad arguments (a bad ``--policy`` file too).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, TextIO

from sa3p_host._cli_arguments import (
    EXIT_FAILURE,
    EXIT_OK,
    add_serve_arguments,
    positive_seconds,
)
from sa3p_host._run_command import RunOptions, execute_run, silence_closed_output

__all__ = [
    "HistoryOptions",
    "PromptOptions",
    "RunOptions",
    "SchemaOptions",
    "ServeOptions",
    "SessionOptions",
    "UndoOptions",
    "build_parser",
    "execute_history",
    "execute_prompt",
    "execute_run",
    "execute_schema",
    "execute_serve",
    "execute_session",
    "execute_undo",
    "main",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionOptions:
    """``sa3p session stop --workspace DIR`` / ``sa3p session list``."""

    action: str
    workspace: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryOptions:
    """``sa3p history --workspace DIR``: the turns recorded for a workspace."""

    workspace: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UndoOptions:
    """``sa3p undo --workspace DIR [--turn N]``: back to before turn N (default: the last)."""

    workspace: str
    turn: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ServeOptions:
    """``sa3p serve``: the guest agent, serving ``workspace`` on ``listen``."""

    listen: str
    workspace: str
    token_file: str | None
    keep_processes: bool = False
    idle_timeout: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PromptOptions:
    """``sa3p prompt``: no options yet."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SchemaOptions:
    """``sa3p schema``: the JSON Schema of ``sa3p run --json`` lines."""


def _add_run(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = subcommands.add_parser(
        "run",
        help="run the commands in a model's output against a workspace",
        description="Read model output as it arrives and run each command once complete.",
    )
    run.add_argument("source", nargs="?", default="-", help="a file, or - for stdin (default)")
    where = run.add_mutually_exclusive_group(required=True)
    where.add_argument("--workspace", metavar="DIR", help="the workspace the commands act on")
    run.add_argument(
        "--json", action="store_true", help="one JSON object per result, then the state header"
    )
    run.add_argument(
        "--timeout",
        type=positive_seconds,
        default=None,
        metavar="SECONDS",
        help="how long a terminal command may run before it is detached (default: the engine's)",
    )
    where.add_argument(
        "--connect",
        default=None,
        metavar="ADDR",
        help="run the commands in a guest (sa3p serve) at unix:PATH, tcp:HOST:PORT or "
        "vsock:CID:PORT instead of --workspace",
    )
    run.add_argument(
        "--token-file", default=None, metavar="FILE", help="the token the guest expects"
    )
    run.add_argument(
        "--sandbox",
        choices=("bwrap", "none"),
        default="bwrap",
        help="bwrap (default): the session runs under bubblewrap; none: unconfined",
    )
    run.add_argument("--network", action="store_true", help="let commands reach the network")
    run.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME",
        help="pass this environment variable to the commands (repeatable)",
    )
    run.add_argument(
        "--ephemeral",
        action="store_true",
        help="no session: every process this run started ends with it",
    )
    run.add_argument(
        "--idle-timeout",
        type=positive_seconds,
        default=3600.0,
        metavar="SECONDS",
        help="end the session after this long without a run (default: 3600)",
    )
    run.add_argument(
        "--policy",
        default=None,
        metavar="FILE",
        help="allow/ask/deny rules (TOML, outside the workspace); asks go to /dev/tty, and "
        "without a terminal ask means deny (see docs/CONTROL.md)",
    )
    run.set_defaults(
        build=lambda ns: RunOptions(
            source=ns.source,
            workspace=ns.workspace,
            json=ns.json,
            timeout=ns.timeout,
            connect=ns.connect,
            token_file=ns.token_file,
            sandbox=ns.sandbox,
            network=ns.network,
            env=tuple(ns.env),
            ephemeral=ns.ephemeral,
            idle_timeout=ns.idle_timeout,
            policy=ns.policy,
        )
    )


def _add_session(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    session = subcommands.add_parser("session", help="list or stop workspace sessions")
    actions = session.add_subparsers(dest="action", required=True, metavar="ACTION")
    stop = actions.add_parser("stop", help="end a workspace's session and all its processes")
    stop.add_argument("--workspace", required=True, metavar="DIR")
    actions.add_parser("list", help="the sessions running, with their processes")
    session.set_defaults(
        build=lambda ns: SessionOptions(action=ns.action, workspace=getattr(ns, "workspace", None))
    )


def _add_serve(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = subcommands.add_parser(
        "serve",
        help="serve a workspace to `sa3p run --connect` (the guest agent inside a sandbox)",
        description="Serve a workspace over unix:PATH, tcp:HOST:PORT or vsock:CID:PORT until "
        "SIGTERM. A non-loopback TCP address requires --token-file.",
    )
    add_serve_arguments(serve)
    serve.set_defaults(
        build=lambda ns: ServeOptions(
            listen=ns.listen,
            workspace=ns.workspace,
            token_file=ns.token_file,
            keep_processes=ns.keep_processes,
            idle_timeout=ns.idle_timeout,
        )
    )


def _add_checkpoints(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    history = subcommands.add_parser(
        "history", help="the turns recorded for a workspace: when, what ran, the files changed"
    )
    history.add_argument("--workspace", required=True, metavar="DIR")
    history.set_defaults(build=lambda ns: HistoryOptions(workspace=ns.workspace))
    undo = subcommands.add_parser(
        "undo",
        help="restore the files changed in a turn and after to their state before it",
        description="Restore every file changed in turn N and after (terminal commands "
        "included; gitignored files excepted) to its state before turn N. The undo is a turn "
        "itself: `sa3p undo` again undoes it.",
    )
    undo.add_argument("--workspace", required=True, metavar="DIR")
    undo.add_argument("--turn", type=int, default=None, metavar="N", help="default: the last")
    undo.set_defaults(build=lambda ns: UndoOptions(workspace=ns.workspace, turn=ns.turn))


def _add_prompt(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    prompt = subcommands.add_parser("prompt", help="print the system prompt for the model")
    prompt.set_defaults(build=lambda ns: PromptOptions())
    schema = subcommands.add_parser(
        "schema",
        help="print the JSON Schema (draft 2020-12) every `sa3p run --json` line validates against",
    )
    schema.set_defaults(build=lambda ns: SchemaOptions())


SUBCOMMANDS: list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]] = [
    _add_run,
    _add_session,
    _add_checkpoints,
    _add_prompt,
    _add_serve,
]
"""Each adds one subcommand; its ``build`` default turns the namespace into an options value."""


class _VersionAction(argparse.Action):
    """``--version``: the installed distribution's version, looked up only when asked
    (``importlib.metadata`` alone costs ~40 ms at every start otherwise)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **_: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        import importlib.metadata  # noqa: PLC0415 - the point of this

        print(f"sa3p {importlib.metadata.version('sa3p')}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``sa3p``."""
    parser = argparse.ArgumentParser(
        prog="sa3p", description="Let a language model act on a workspace through its output."
    )
    parser.add_argument("--version", action=_VersionAction)
    subcommands = parser.add_subparsers(dest="subcommand", required=True, metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(subcommands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sa3p`` console script and ``python -m sa3p_host``."""
    parser = build_parser()
    namespace = parser.parse_args(argv)
    options = namespace.build(namespace)
    match options:
        case RunOptions():
            if options.workspace is not None and not os.path.isdir(options.workspace):
                parser.error(f"--workspace {options.workspace!r} is not a directory")
            return execute_run(options, sys.stdout.buffer, sys.stderr)
        case SessionOptions():
            if options.workspace is not None and not os.path.isdir(options.workspace):
                parser.error(f"--workspace {options.workspace!r} is not a directory")
            return execute_session(options, sys.stdout, sys.stderr)
        case HistoryOptions() | UndoOptions():
            if not os.path.isdir(options.workspace):
                parser.error(f"--workspace {options.workspace!r} is not a directory")
            if isinstance(options, UndoOptions):
                return execute_undo(options, sys.stdout, sys.stderr)
            return execute_history(options, sys.stdout, sys.stderr)
        case PromptOptions():
            return execute_prompt(options, sys.stdout.buffer)
        case SchemaOptions():
            return execute_schema(options, sys.stdout.buffer)
        case ServeOptions():
            return execute_serve(options, sys.stderr)
        case _:
            raise AssertionError(f"no executor for {options!r}")


def execute_prompt(options: PromptOptions, out: BinaryIO) -> int:
    """Print the system prompt."""
    try:
        from sa3p_engine import generate_system_prompt  # noqa: PLC0415

        out.write(generate_system_prompt().encode("utf-8") + b"\n")
        out.flush()
    except BrokenPipeError:
        silence_closed_output(out)  # `sa3p prompt | head`: the reader had enough
        return EXIT_FAILURE
    return EXIT_OK


def execute_schema(options: SchemaOptions, out: BinaryIO) -> int:
    """Print the JSON Schema of ``sa3p run --json`` lines."""
    import json  # noqa: PLC0415

    from sa3p_host._json_schema import run_json_schema  # noqa: PLC0415

    try:
        out.write(json.dumps(run_json_schema(), indent=2).encode("utf-8") + b"\n")
        out.flush()
    except BrokenPipeError:
        silence_closed_output(out)
        return EXIT_FAILURE
    return EXIT_OK


def execute_serve(options: ServeOptions, err: TextIO) -> int:
    """Run the guest agent until SIGTERM/SIGINT (exit 0), or fail to start (1: cannot bind,
    2: bad arguments)."""
    from sa3p_host._guest._serve_command import serve_with_token_file  # noqa: PLC0415

    return serve_with_token_file(
        options.listen,
        options.workspace,
        options.token_file,
        err=err,
        keep_processes=options.keep_processes,
        idle_timeout=options.idle_timeout,
    )


def execute_session(options: SessionOptions, out: TextIO, err: TextIO) -> int:
    """``stop``: end a workspace's session (0 whether or not one ran); ``list``: one line per
    running session."""
    from sa3p_host._sessions import SessionError, list_sessions, stop_session  # noqa: PLC0415

    try:
        if options.action == "stop":
            assert options.workspace is not None
            stopped = stop_session(options.workspace)
            said = (
                "no session runs" if stopped is None else f"stopped the session (pid {stopped.pid})"
            )
            print(f"sa3p session: {said} for {os.path.realpath(options.workspace)}", file=out)
            return EXIT_OK
        for info in list_sessions():
            print(_session_line(info), file=out)
    except SessionError as error:
        print(f"sa3p session: {error}", file=err)
        return EXIT_FAILURE
    return EXIT_OK


def execute_history(options: HistoryOptions, out: TextIO, err: TextIO) -> int:
    """Print the workspace's turns, oldest first (0), or say none is recorded (0)."""
    from sa3p_host._checkpoints import Checkpoints  # noqa: PLC0415

    records = Checkpoints(options.workspace).history()
    if not records:
        print(
            f"sa3p history: no turn is recorded for {os.path.realpath(options.workspace)}", file=out
        )
    for record in records:
        print(record.render(), file=out)
    return EXIT_OK


def execute_undo(options: UndoOptions, out: TextIO, err: TextIO) -> int:
    """Undo turn N and after (0); refuse when a run holds the workspace or there is no
    turn N, or say which files could not be restored (1)."""
    from sa3p_host._checkpoints import CheckpointError, Checkpoints  # noqa: PLC0415
    from sa3p_host._sessions import SessionError, _run_lock, _session_dir  # noqa: PLC0415

    def refuse(sentence: str) -> None:
        raise SessionError("a sa3p run is using this workspace's session; undo when it ends")

    real = os.path.realpath(options.workspace)
    try:
        with _run_lock(_session_dir(real), on_wait=refuse):  # never waits: refuse() raises
            record = Checkpoints(real).undo(options.turn)
    except (CheckpointError, SessionError) as error:
        print(f"sa3p undo: {error}", file=err)
        return EXIT_FAILURE
    if record is None:
        print("sa3p undo: nothing to do: those files are already as they were", file=out)
        return EXIT_OK
    print(f"sa3p undo: done, recorded as turn {record.number} (`sa3p undo` undoes it)", file=out)
    print(record.render(), file=out)
    if record.unrestored:
        print(f"sa3p undo: not restored: {', '.join(record.unrestored)}", file=err)
        return EXIT_FAILURE
    return EXIT_OK


def _session_line(info: Any) -> str:
    import time  # noqa: PLC0415

    from sa3p_host._remote import open_remote_backends  # noqa: PLC0415
    from sa3p_host._remote_errors import RemoteConnectionError  # noqa: PLC0415

    try:
        with open_remote_backends(f"unix:{info.socket}") as (_vfs, terminal):
            processes = str(len(terminal.active_pids()))
    except RemoteConnectionError:
        processes = "?"
    age = int(time.time() - info.started)
    return (
        f"{info.workspace}\tpid {info.pid}\tage {age}s\tsandbox {info.sandbox}\t"
        f"{processes} live processes"
    )
