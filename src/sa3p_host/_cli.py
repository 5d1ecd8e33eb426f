"""The ``sa3p`` command: ``sa3p run``, ``sa3p session``, ``sa3p history``, ``sa3p undo``,
``sa3p prompt``, ``sa3p schema`` and ``sa3p serve``.

Argument parsing (``build_parser`` → a frozen options value) is kept apart from execution (one
small ``execute_*`` function per subcommand), so a subcommand or an option is added in one place.
Exit status (docs/COMMANDS.md, "Exit status"): 0 when the stream was processed (failed,
denied and quoted commands are results, not failures of sa3p); 1 when sa3p could not do its
job: the input could not be read, the guest could not be reached or refused the token (nothing
was executed), the guest was lost during the run (stderr says what ran and what did not), the
output was closed or sa3p was interrupted (SIGINT/SIGTERM; every process it started is ended
first); 2 for bad arguments (a bad ``--policy`` file too).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import importlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

from sa3p_engine import Policy, PolicyError
from sa3p_host._cli_arguments import add_serve_arguments, positive_seconds

if TYPE_CHECKING:
    from sa3p_engine import (
        CommandOutput,
        Engine,
        OutputCallback,
        RunResult,
        SignalResult,
        TerminalProvider,
        VirtualFileSystem,
    )
    from sa3p_host._cli_output import Printer
    from sa3p_host._live_view import LiveView
    from sa3p_host._local._local_terminal import LocalTerminal

# The engine, the parser and the local backends are imported where a run needs them, not here:
# a run on a session starts its guest first and loads them while the guest starts
# (``_load_run_modules``), so the two costs overlap.

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

_READ_SIZE = 1 << 20
EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    """``sa3p run``: where the model's output comes from and where it acts.

    Attributes:
        source: a file path, or ``-`` for standard input.
        workspace: the directory the commands act on (in its session), or None with ``connect``.
        json: one JSON object per output line instead of text.
        timeout: seconds before a terminal command is detached (None: the engine's default).
        connect: a guest's address (``unix:PATH``, ``tcp:HOST:PORT``, ``vsock:CID:PORT``) to run
            the commands in instead of ``workspace``'s session.
        token_file: a file holding the token the guest expects (challenge-response; never sent).
        sandbox: ``bwrap`` (the session runs under bubblewrap) or ``none`` (unconfined).
        network: commands may reach the network.
        env: names of variables passed to the commands.
        ephemeral: this run only: its processes end with it.
        idle_timeout: seconds without a connection before the session ends.
        policy: a policy file (TOML) every command must pass; asks go to the terminal.
    """

    source: str
    workspace: str | None
    json: bool
    timeout: float | None
    connect: str | None = None
    token_file: str | None = None
    sandbox: str = "bwrap"
    network: bool = False
    env: tuple[str, ...] = ()
    ephemeral: bool = False
    idle_timeout: float = 3600.0
    policy: str | None = None


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
        _silence_closed_output(out)  # `sa3p prompt | head`: the reader had enough
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
        _silence_closed_output(out)
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


def execute_run(options: RunOptions, out: BinaryIO, err: TextIO | None = None) -> int:
    """Stream ``options.source`` through the parser and the engine, printing each result.

    Args:
        options: what to run, where.
        out: where results go (flushed after each one).
        err: a text stream for sa3p's own errors (default ``sys.stderr``).
    """
    errors = err if err is not None else sys.stderr
    try:
        policy = _read_policy(options)
    except PolicyError as exc:
        print(f"sa3p run: --policy: {exc}; nothing was executed", file=errors)
        return EXIT_USAGE
    try:
        fd = 0 if options.source == "-" else os.open(options.source, os.O_RDONLY)
    except OSError as exc:
        print(f"sa3p run: cannot read {options.source!r}: {exc.strerror}", file=errors)
        return EXIT_FAILURE
    previous = _on_sigterm(_raise_interrupt)
    view: LiveView | None = None
    try:
        with _open_backends(options, errors) as (vfs, terminal):
            from sa3p_engine import Engine  # noqa: PLC0415 - see _load_run_modules
            from sa3p_host._approval import terminal_approver  # noqa: PLC0415
            from sa3p_host._cli_output import Printer  # noqa: PLC0415
            from sa3p_host._live_view import LiveView  # noqa: PLC0415

            printer = Printer(out, json_lines=options.json)
            view = None if options.json else LiveView(errors, compact=_is_terminal(errors))
            with (
                _checkpointed(options, errors) as outputs,
                terminal_approver() if policy is not None else contextlib.nullcontext() as approver,
                Engine(
                    vfs,
                    terminal,
                    terminal_timeout=options.timeout,
                    policy=policy,
                    approver=approver,
                    on_output=printer.live if view is None else view,
                ) as engine,
            ):
                results = _Results(printer, view, outputs)
                return _stream(fd, engine, results, options.source, errors)
    except _BackendsUnavailable as exc:
        print(f"sa3p run: {exc}; nothing was executed", file=errors)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("sa3p run: interrupted; every process it started was ended", file=errors)
        return EXIT_FAILURE
    except BrokenPipeError:
        # Whoever read the results went away: stop, end what was started.
        _silence_closed_output(out)
        print("sa3p run: the output was closed; stopped", file=errors)
        return EXIT_FAILURE
    finally:
        if view is not None:
            view.close()
        if previous is not None:
            _on_sigterm(previous)
        if fd != 0:
            os.close(fd)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (OSError, ValueError):
        return False


@contextlib.contextmanager
def _checkpointed(options: RunOptions, errors: TextIO) -> Iterator[list[CommandOutput]]:
    """This run as one turn of the workspace's checkpoints (``sa3p history``, ``sa3p undo``);
    the body collects the engine's outputs. A store that fails is reported, never stops the run.
    A run with ``--connect`` acts on a workspace elsewhere: no checkpoint."""
    from sa3p_host._checkpoints import CheckpointError, Checkpoints, WorkspaceBusy  # noqa: PLC0415

    outputs: list[CommandOutput] = []
    if options.workspace is None:
        yield outputs
        return
    with Checkpoints(options.workspace) as store:
        try:
            try:
                store.begin_turn(wait=False)
            except WorkspaceBusy:
                print(
                    "sa3p run: another turn holds this workspace; waiting", file=errors, flush=True
                )
                store.begin_turn()
        except (CheckpointError, OSError) as error:
            print(f"sa3p run: no checkpoint, this run cannot be undone: {error}", file=errors)
            yield outputs
            return
        try:
            yield outputs
        finally:
            try:
                store.end_turn(outputs)
            except (CheckpointError, OSError) as error:
                print(
                    f"sa3p run: the checkpoint failed, this run cannot be undone: {error}",
                    file=errors,
                )


def _read_policy(options: RunOptions) -> Policy | None:
    """The ``--policy`` file, read once at start. It must lie outside the workspace: the model's
    commands could change it there (for later runs; a run never rereads it)."""
    if options.policy is None:
        return None
    if options.workspace is not None:
        real, root = os.path.realpath(options.policy), os.path.realpath(options.workspace)
        if os.path.commonpath([real, root]) == root:
            raise PolicyError(
                f"it lies inside the workspace {root}, where the model's commands could change "
                f"it; keep it outside",
                source=options.policy,
            )
    return Policy.from_file(options.policy)


def _silence_closed_output(out: BinaryIO) -> None:
    """Point ``out``'s descriptor at /dev/null, so that Python does not complain about the closed
    pipe again when it flushes standard output at exit."""
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())


class _BackendsUnavailable(Exception):
    """The guest could not be reached, or refused us: said before anything ran."""


@contextlib.contextmanager
def _open_backends(
    options: RunOptions, errors: TextIO
) -> Iterator[tuple[VirtualFileSystem, TerminalProvider]]:
    """A guest's pair with ``options.connect``; this run's own local pair for an ephemeral
    unconfined run; else the workspace's session's pair (started if none runs)."""
    if options.sandbox == "none":
        print(
            "sa3p run: --sandbox none: the commands run unconfined, with your authority",
            file=errors,
        )
    if options.connect is not None:
        yield from _connected_backends(options)
        return
    assert options.workspace is not None
    if options.ephemeral and options.sandbox == "none":
        from sa3p_host._local._local_vfs import LocalVfs  # noqa: PLC0415

        yield LocalVfs(options.workspace), _DeferredTerminal(options.workspace)
        return
    from sa3p_host._sandbox import SandboxUnavailable  # noqa: PLC0415
    from sa3p_host._sessions import SessionError, open_session  # noqa: PLC0415

    def waiting(sentence: str) -> None:
        print(f"sa3p run: {sentence}", file=errors, flush=True)

    with contextlib.ExitStack() as stack:
        try:
            session = stack.enter_context(
                open_session(
                    options.workspace,
                    sandbox="none" if options.sandbox == "none" else "bwrap",
                    network=options.network,
                    env=options.env,
                    idle_timeout=options.idle_timeout,
                    ephemeral=options.ephemeral,
                    on_wait=waiting,
                    while_starting=_load_run_modules,
                )
            )
        except (SessionError, SandboxUnavailable) as exc:
            raise _BackendsUnavailable(str(exc)) from exc
        yield session.vfs, session.terminal


def _load_run_modules() -> None:
    """Import what a run needs besides its backends; called while a session's guest starts."""
    for module in (
        "sa3p_engine._engine_drivers",
        "sa3p_parser",
        "sa3p_host._cli_output",
        "sa3p_host._live_view",
    ):
        importlib.import_module(module)


def _connected_backends(
    options: RunOptions,
) -> Iterator[tuple[VirtualFileSystem, TerminalProvider]]:
    # Imported only here: a local run does not pay for anyio and the protocol at start-up.
    from sa3p_host._guest import read_token  # noqa: PLC0415
    from sa3p_host._remote import open_remote_backends  # noqa: PLC0415
    from sa3p_host._remote_errors import RemoteConnectionError  # noqa: PLC0415
    from sa3p_host._transport import AddressError  # noqa: PLC0415

    assert options.connect is not None
    with contextlib.ExitStack() as stack:
        try:
            token = read_token(options.token_file) if options.token_file is not None else None
            pair = stack.enter_context(open_remote_backends(options.connect, token))
        except (RemoteConnectionError, AddressError, OSError, ValueError) as exc:
            raise _BackendsUnavailable(str(exc)) from exc
        yield pair


class _DeferredTerminal:
    """A ``LocalTerminal`` made on the first terminal command, not before.

    Importing the terminal (subprocess, select, psutil's helpers) and becoming a subreaper cost
    start-up time that a reply without terminal commands (a big ``write_file``) should not pay.
    Until then no process exists, so ``active_pids`` is empty and ``close`` has nothing to end.
    """

    def __init__(self, root: str) -> None:
        self._root = root
        self._real: LocalTerminal | None = None
        self._closed = False

    def _terminal(self) -> LocalTerminal:
        if self._real is None:
            from sa3p_host._local._local_terminal import LocalTerminal  # noqa: PLC0415 - the point of this

            self._real = LocalTerminal(self._root)
            if self._closed:
                self._real.close()  # so that it refuses commands with its own CLOSED error
        return self._real

    def run(
        self, command: str, *, timeout: float, on_output: OutputCallback | None = None
    ) -> RunResult:
        return self._terminal().run(command, timeout=timeout, on_output=on_output)

    def poll(
        self, pid: int, *, timeout: float, on_output: OutputCallback | None = None
    ) -> RunResult:
        return self._terminal().poll(pid, timeout=timeout, on_output=on_output)

    def signal(self, pid: int, signal: int) -> SignalResult:
        return self._terminal().signal(pid, signal)

    def active_pids(self) -> list[int]:
        return [] if self._real is None else self._real.active_pids()

    def close(self) -> None:
        self._closed = True
        if self._real is not None:
            self._real.close()


class _Results:
    """Where ``sa3p run`` puts each result: printed (the live view erased first) and kept for
    the checkpoint; it notes the first result that found the guest gone."""

    def __init__(self, printer: Printer, view: LiveView | None, kept: list[CommandOutput]):
        from sa3p_engine import OutputCode  # noqa: PLC0415 - see _load_run_modules

        self.printer, self.view, self.kept = printer, view, kept
        self._lost = OutputCode.CONNECTION_LOST
        self.lost_at: int | None = None
        """The index in ``kept`` of the first result that found the guest gone."""

    def add(self, output: CommandOutput) -> None:
        if self.view is not None:
            self.view.end()
        self.printer.output(output)
        if self.lost_at is None and output.code is self._lost:
            self.lost_at = len(self.kept)
        self.kept.append(output)

    def loss_report(self) -> str:
        """What ran before the guest was lost, and what did not run (or not wholly)."""
        assert self.lost_at is not None
        lost = self.kept[self.lost_at]
        after = len(self.kept) - self.lost_at - 1
        where = f" (line {lost.position.line})" if lost.position is not None else ""
        return (
            f"sa3p run: the guest was lost during <{lost.command}>{where}: the {self.lost_at} "
            f"results before it are complete; that command may have run in part, and the "
            f"{after} commands after it did not run (their results say connection_lost)"
        )


def _stream(fd: int, engine: Engine, results: _Results, source: str, errors: TextIO) -> int:
    from sa3p_parser import InstructionParser  # noqa: PLC0415

    _widen_pipe(fd)
    parser = InstructionParser()
    printed = 0
    while True:
        try:
            chunk = os.read(fd, _READ_SIZE)
        except OSError as exc:
            print(f"sa3p run: reading {source!r} failed: {exc.strerror}", file=errors)
            return EXIT_FAILURE
        instructions = parser.feed(chunk) if chunk else parser.finish()
        for instruction in instructions:
            for output in engine.feed(instruction):
                results.add(output)
                printed += 1
        if not chunk:
            break
    turn = engine.finish_turn()
    for output in turn.outputs[printed:]:
        results.add(output)
    results.printer.state_header(turn.state_header)
    if results.lost_at is not None:
        print(results.loss_report(), file=errors)
        return EXIT_FAILURE
    return EXIT_OK


def _widen_pipe(fd: int) -> None:
    """Ask Linux for a 1 MiB pipe buffer on a piped input: fewer, larger reads of a big reply.

    Harmless elsewhere: a file, a terminal or another OS just keeps its buffer.
    """
    with contextlib.suppress(OSError, AttributeError, ValueError):
        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), _READ_SIZE)


_SignalHandler = Callable[[int, FrameType | None], Any] | int | None


def _on_sigterm(handler: _SignalHandler) -> _SignalHandler:
    """Install ``handler`` for SIGTERM; return the previous one (None off the main thread, where
    Python cannot install handlers: SIGTERM then keeps its default action)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, handler)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    # SIGTERM ends `sa3p run` like Ctrl-C: through `finally`, so every started process is ended.
    raise KeyboardInterrupt
