"""The ``sa3p`` command: ``sa3p run``, ``sa3p prompt`` and ``sa3p serve``.

Argument parsing (``build_parser`` → a frozen options value) is kept apart from execution (one
small ``execute_*`` function per subcommand), so a subcommand or an option is added in one place.
Exit status: 0 when the stream was processed (failed commands are results, not failures of
sa3p), 1 when the input could not be read, the guest could not be reached or refused the
token (nothing was executed), the output was closed or sa3p was interrupted (SIGINT/SIGTERM;
every process it started is ended first), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any, BinaryIO, TextIO

from sa3p_engine import (
    Engine,
    RunResult,
    SignalResult,
    TerminalProvider,
    VirtualFileSystem,
    generate_system_prompt,
)
from sa3p_host._cli_output import Printer
from sa3p_host._local._local_vfs import LocalVfs
from sa3p_parser import InstructionParser

__all__ = [
    "PromptOptions",
    "RunOptions",
    "ServeOptions",
    "build_parser",
    "execute_prompt",
    "execute_run",
    "execute_serve",
    "main",
]

_READ_SIZE = 1 << 20
EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOptions:
    """``sa3p run``: where the model's output comes from and where it acts.

    Attributes:
        source: a file path, or ``-`` for standard input.
        workspace: the directory the commands act on.
        json: one JSON object per output line instead of text.
        timeout: seconds before a terminal command is detached (None: the engine's default).
        connect: a guest's address (``unix:PATH``, ``tcp:HOST:PORT``, ``vsock:CID:PORT``) to run
            the commands in instead of ``workspace``; None runs them locally.
        token_file: a file holding the token the guest expects (challenge-response; never sent).
    """

    source: str
    workspace: str
    json: bool
    timeout: float | None
    connect: str | None = None
    token_file: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ServeOptions:
    """``sa3p serve``: the guest agent, serving ``workspace`` on ``listen``."""

    listen: str
    workspace: str
    token_file: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class PromptOptions:
    """``sa3p prompt``: no options yet."""


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"timeout must be a positive number, not {text!r}")
    return value


def _add_run(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = subcommands.add_parser(
        "run",
        help="run the commands in a model's output against a workspace",
        description="Read model output as it arrives and run each command once complete.",
    )
    run.add_argument("source", nargs="?", default="-", help="a file, or - for stdin (default)")
    run.add_argument(
        "--workspace", default=".", metavar="DIR", help="the workspace directory (default: .)"
    )
    run.add_argument(
        "--json", action="store_true", help="one JSON object per result, then the state header"
    )
    run.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=None,
        metavar="SECONDS",
        help="how long a terminal command may run before it is detached (default: the engine's)",
    )
    run.add_argument(
        "--connect",
        default=None,
        metavar="ADDR",
        help="run the commands in a guest (sa3p serve) at unix:PATH, tcp:HOST:PORT or "
        "vsock:CID:PORT instead of --workspace",
    )
    run.add_argument(
        "--token-file", default=None, metavar="FILE", help="the token the guest expects"
    )
    run.set_defaults(
        build=lambda ns: RunOptions(
            source=ns.source,
            workspace=ns.workspace,
            json=ns.json,
            timeout=ns.timeout,
            connect=ns.connect,
            token_file=ns.token_file,
        )
    )


def _add_serve(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = subcommands.add_parser(
        "serve",
        help="serve a workspace to `sa3p run --connect` (the guest agent inside a sandbox)",
        description="Serve a workspace over unix:PATH, tcp:HOST:PORT or vsock:CID:PORT until "
        "SIGTERM. A non-loopback TCP address requires --token-file.",
    )
    serve.add_argument("--listen", required=True, metavar="ADDR", help="where to listen")
    serve.add_argument(
        "--workspace", default=".", metavar="DIR", help="the workspace directory (default: .)"
    )
    serve.add_argument(
        "--token-file", default=None, metavar="FILE", help="a file holding the shared token"
    )
    serve.set_defaults(
        build=lambda ns: ServeOptions(
            listen=ns.listen, workspace=ns.workspace, token_file=ns.token_file
        )
    )


def _add_prompt(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    prompt = subcommands.add_parser("prompt", help="print the system prompt for the model")
    prompt.set_defaults(build=lambda ns: PromptOptions())


SUBCOMMANDS: list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]] = [
    _add_run,
    _add_prompt,
    _add_serve,
]
"""Each adds one subcommand; its ``build`` default turns the namespace into an options value."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``sa3p``."""
    parser = argparse.ArgumentParser(
        prog="sa3p", description="Let a language model act on a workspace through its output."
    )
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
            if options.connect is None and not os.path.isdir(options.workspace):
                parser.error(f"--workspace {options.workspace!r} is not a directory")
            return execute_run(options, sys.stdout.buffer, sys.stderr)
        case PromptOptions():
            return execute_prompt(options, sys.stdout.buffer)
        case ServeOptions():
            return execute_serve(options, sys.stderr)
        case _:
            raise AssertionError(f"no executor for {options!r}")


def execute_prompt(options: PromptOptions, out: BinaryIO) -> int:
    """Print the system prompt."""
    try:
        out.write(generate_system_prompt().encode("utf-8") + b"\n")
        out.flush()
    except BrokenPipeError:
        _silence_closed_output(out)  # `sa3p prompt | head`: the reader had enough
        return EXIT_FAILURE
    return EXIT_OK


def execute_serve(options: ServeOptions, err: TextIO) -> int:
    """Run the guest agent until SIGTERM/SIGINT (exit 0), or fail to start (1: cannot bind,
    2: bad arguments)."""
    from sa3p_host._guest import read_token, serve_forever  # noqa: PLC0415 - only for serve

    token = None
    if options.token_file is not None:
        try:
            token = read_token(options.token_file)
        except (OSError, ValueError) as exc:
            print(f"sa3p serve: cannot use the token file: {exc}", file=err)
            return EXIT_USAGE
    return serve_forever(options.listen, options.workspace, token, err=err)


def execute_run(options: RunOptions, out: BinaryIO, err: TextIO | None = None) -> int:
    """Stream ``options.source`` through the parser and the engine, printing each result.

    Args:
        options: what to run, where.
        out: where results go (flushed after each one).
        err: a text stream for sa3p's own errors (default ``sys.stderr``).
    """
    errors = err if err is not None else sys.stderr
    try:
        fd = 0 if options.source == "-" else os.open(options.source, os.O_RDONLY)
    except OSError as exc:
        print(f"sa3p run: cannot read {options.source!r}: {exc.strerror}", file=errors)
        return EXIT_FAILURE
    previous = _on_sigterm(_raise_interrupt)
    try:
        with _open_backends(options) as (vfs, terminal):
            printer = Printer(out, json_lines=options.json)
            with Engine(vfs, terminal, terminal_timeout=options.timeout) as engine:
                return _stream(fd, engine, printer, options.source, errors)
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
        if previous is not None:
            _on_sigterm(previous)
        if fd != 0:
            os.close(fd)


def _silence_closed_output(out: BinaryIO) -> None:
    """Point ``out``'s descriptor at /dev/null, so that Python does not complain about the closed
    pipe again when it flushes standard output at exit."""
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())


class _BackendsUnavailable(Exception):
    """The guest could not be reached, or refused us: said before anything ran."""


@contextlib.contextmanager
def _open_backends(options: RunOptions) -> Iterator[tuple[VirtualFileSystem, TerminalProvider]]:
    """The local pair on ``options.workspace``, or a guest's pair with ``options.connect``."""
    if options.connect is None:
        yield LocalVfs(options.workspace), _DeferredTerminal(options.workspace)
        return
    # Imported only here: a local run does not pay for anyio and the protocol at start-up.
    from sa3p_host._guest import read_token  # noqa: PLC0415
    from sa3p_host._remote import open_remote_backends  # noqa: PLC0415
    from sa3p_host._remote_errors import RemoteConnectionError  # noqa: PLC0415
    from sa3p_host._transport import AddressError  # noqa: PLC0415

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
        self._real: TerminalProvider | None = None
        self._closed = False

    def _terminal(self) -> TerminalProvider:
        if self._real is None:
            from sa3p_host._local._local_terminal import LocalTerminal  # noqa: PLC0415 - the point of this

            self._real = LocalTerminal(self._root)
            if self._closed:
                self._real.close()  # so that it refuses commands with its own CLOSED error
        return self._real

    def run(self, command: str, *, timeout: float) -> RunResult:
        return self._terminal().run(command, timeout=timeout)

    def poll(self, pid: int, *, timeout: float) -> RunResult:
        return self._terminal().poll(pid, timeout=timeout)

    def signal(self, pid: int, signal: int) -> SignalResult:
        return self._terminal().signal(pid, signal)

    def active_pids(self) -> list[int]:
        return [] if self._real is None else self._real.active_pids()

    def close(self) -> None:
        self._closed = True
        if self._real is not None:
            self._real.close()


def _stream(fd: int, engine: Engine, printer: Printer, source: str, errors: TextIO) -> int:
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
                printer.output(output)
                printed += 1
        if not chunk:
            break
    turn = engine.finish_turn()
    for output in turn.outputs[printed:]:
        printer.output(output)
    printer.state_header(turn.state_header)
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
