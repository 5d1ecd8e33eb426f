"""AsyncEngine: the same outputs as Engine for the same input, on asyncio and trio, with sync
backends (in worker threads) and native async ones; its event loop never blocks."""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sa3p_engine import AsyncEngine, Engine, NodeKind, TerminalOutput, TurnResult
from sa3p_engine.testing import MemoryFileSystem, ScriptedCommand, ScriptedTerminal
from sa3p_parser import Instruction, InstructionParser
from sa3p_parser.testing import chunkings, documents

from .engine_helpers import command, edit

pytestmark = pytest.mark.anyio
FILE = NodeKind.FILE

FILES = {"a.txt": b"alpha\nbeta\n", "src/m.py": b"def f():\n    return 1\n"}
SCRIPTS = {
    "echo hi": ScriptedCommand(output=b"hi\n"),
    "serve": ScriptedCommand(output=b"up\n", exit_code=None, later_output=b"req\n"),
}


class AsyncAdapter:
    """Any sync backend with every method turned into a coroutine function (a native async
    backend, as far as AsyncEngine can tell); writers it returns are wrapped too."""

    def __init__(self, backend: object) -> None:
        self._backend = backend

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._backend, name)

        @functools.wraps(method)
        async def call(*args: Any, **kwargs: Any) -> Any:
            await anyio.lowlevel.checkpoint()
            result = method(*args, **kwargs)
            return AsyncAdapter(result) if hasattr(result, "commit") else result

        return call


def _backends() -> tuple[MemoryFileSystem, ScriptedTerminal]:
    return MemoryFileSystem(FILES), ScriptedTerminal(SCRIPTS)


def _trace_sync(instructions: list[Instruction]) -> tuple[list[list[str]], str, dict[str, bytes]]:
    vfs, terminal = _backends()
    with Engine(vfs, terminal) as engine:
        per_feed = [[out.render() for out in engine.feed(item)] for item in instructions]
        turn = engine.finish_turn()
    return per_feed, turn.render(), _files(vfs)


async def _trace_async(
    instructions: list[Instruction], *, native: bool
) -> tuple[list[list[str]], str, dict[str, bytes]]:
    vfs, terminal = _backends()
    backends: tuple[Any, Any] = (
        (AsyncAdapter(vfs), AsyncAdapter(terminal)) if native else (vfs, terminal)
    )
    async with AsyncEngine(*backends) as engine:
        per_feed = [[out.render() for out in await engine.feed(item)] for item in instructions]
        turn = await engine.finish_turn()
    return per_feed, turn.render(), _files(vfs)


def _files(vfs: MemoryFileSystem) -> dict[str, bytes]:
    return {node.path: vfs.read(node.path) for node in vfs.list_tree(".") if node.kind is FILE}


def _parse(chunks: list[bytes]) -> list[Instruction]:
    parser = InstructionParser()
    instructions = [item for chunk in chunks for item in parser.feed(chunk)]
    return instructions + parser.finish()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), document=documents())
def test_async_engine_gives_what_engine_gives(data: st.DataObject, document: bytes) -> None:
    extra = (
        b"<terminal>echo hi</terminal><terminal>serve</terminal>"
        b'<write_file path="n.txt">x</write_file>'
    )
    instructions = _parse(data.draw(chunkings(document + extra)))
    expected = _trace_sync(instructions)
    for native in (False, True):
        assert anyio.run(functools.partial(_trace_async, instructions, native=native)) == expected


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_every_verb_on_both_loops(anyio_backend: str) -> None:
    vfs, terminal = _backends()
    async with AsyncEngine(vfs, terminal) as engine:
        outputs = []
        for item in [
            *command("read_file", path="a.txt"),
            *edit("a.txt", ("beta", "gamma")),
            *command("terminal", "serve"),
        ]:
            outputs += await engine.feed(item)
        assert [out.ok for out in outputs] == [True, True, True]
        assert (await engine.state_header()).active_pids == [1000]
        turn: TurnResult = await engine.execute_turn(command("terminal", "", pid="1000"))
        polled = turn.outputs[-1]
        assert isinstance(polled, TerminalOutput)
        assert polled.output == "req\n"
        assert engine.statistics()["terminal"].calls == 2
        assert engine.capability_manifest() == Engine(vfs, terminal).capability_manifest()
    assert vfs.read("a.txt") == b"alpha\ngamma\n"
    assert terminal.active_pids() == []  # aclose ended the terminal


async def test_execute_turn_takes_an_async_iterable(anyio_backend: str) -> None:
    async def stream() -> Any:
        for item in command("write_file", "hello", path="h.txt"):
            yield item

    vfs, terminal = _backends()
    async with AsyncEngine(vfs, terminal) as engine:
        turn = await engine.execute_turn(stream())
    assert turn.outputs[0].ok and vfs.read("h.txt") == b"hello"


class SlowTerminal(ScriptedTerminal):
    """A synchronous terminal whose ``run`` blocks its thread until released."""

    def __init__(self) -> None:
        super().__init__(SCRIPTS)
        self.release = threading.Event()
        self.thread: int | None = None

    def run(self, command: str, *, timeout: float, on_output: Any = None) -> Any:
        self.thread = threading.get_ident()
        assert self.release.wait(10)
        return super().run(command, timeout=timeout, on_output=on_output)


async def test_sync_backend_calls_never_block_the_loop(anyio_backend: str) -> None:
    terminal = SlowTerminal()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            if ticks == 20:
                terminal.release.set()  # the loop kept running while run() blocked its thread
            await anyio.sleep(0.005)

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(ticker)
        async with AsyncEngine(MemoryFileSystem(), terminal) as engine:
            [output] = (await engine.execute_turn(command("terminal", "echo hi"))).outputs
        tasks.cancel_scope.cancel()
    assert output.ok and ticks >= 20
    assert terminal.thread != threading.get_ident()


class HangingTerminal:
    """A native async terminal whose commands never finish."""

    async def run(self, command: str, *, timeout: float) -> Any:
        await anyio.sleep_forever()

    async def active_pids(self) -> list[int]:
        return []

    async def close(self) -> None:
        pass


async def test_cancelled_feed_drops_the_command_and_the_engine_goes_on(anyio_backend: str) -> None:
    async with AsyncEngine(MemoryFileSystem(FILES), HangingTerminal()) as engine:  # type: ignore[arg-type]
        *opening, closing = command("terminal", "sleep 100")
        for item in opening:
            await engine.feed(item)
        with anyio.move_on_after(0.05) as scope:
            await engine.feed(closing)
        assert scope.cancelled_caught
        turn = await engine.execute_turn(command("read_file", path="a.txt"))
    assert [out.command for out in turn.outputs] == ["read_file"]
    assert turn.outputs[0].ok


def test_adapter_is_native() -> None:
    adapter = AsyncAdapter(MemoryFileSystem())
    assert inspect.iscoroutinefunction(adapter.read)
