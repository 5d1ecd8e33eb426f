"""``sa3p run``: a model's output streamed through the parser and the engine, against this run's
own local backends, a workspace's session or a guest (``--connect``), each result printed as it
comes (docs/COMMANDS.md). Its options are parsed in ``_cli.py``.

Only what every start needs is imported here: the engine, the parser and the local backends
are imported where a run needs them, so that a run on a session starts its guest first and
loads them while the guest starts (``_load_run_modules``): the two costs overlap.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

from sa3p_engine import Policy, PolicyError
from sa3p_host._cli_arguments import EXIT_FAILURE, EXIT_OK, EXIT_USAGE

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

__all__ = ["RunOptions", "execute_run", "silence_closed_output"]

_READ_SIZE = 1 << 20


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
        silence_closed_output(out)
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


def silence_closed_output(out: BinaryIO) -> None:
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
