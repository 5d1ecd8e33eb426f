"""``Engine`` and ``AsyncEngine``: two thin drivers running the one ``EngineCore``.

Each verb asks the core for a routine and runs it: every effect the routine yields is performed
on the backends and its result (or exception) handed back. ``Engine`` performs effects in the
calling thread; ``AsyncEngine`` awaits native async backends and runs synchronous ones in worker
threads (``anyio.to_thread``), so its event loop never blocks. Both give the same outputs for the
same instructions: the decisions are all in the core. The one effect no backend serves,
``Approve``, each driver performs with its approver (``Engine``: a plain callable;
``AsyncEngine``: a coroutine function, or a plain callable run in a worker thread). Given
``on_output``, a driver performs the terminal's ``LiveEffect``s with it, so people see a
command's output while it runs (``AsyncEngine`` calls it in the event loop's thread).
"""

from __future__ import annotations

import dataclasses
import inspect
import time
from collections.abc import AsyncIterable, Callable, Iterable
from types import TracebackType
from typing import Any, ClassVar, Generic, TypeVar

import anyio

from sa3p_engine._approval_request import (
    Approval,
    ApprovalRequest,
    AsyncApprover,
    SyncApprover,
    answer_of,
)
from sa3p_engine._backend import (
    AsyncTerminalProvider,
    AsyncVirtualFileSystem,
    TerminalProvider,
    VirtualFileSystem,
)
from sa3p_engine._effects import Approve, Effect, LiveEffect, Routine
from sa3p_engine._engine_core import EngineCore
from sa3p_engine._limits import Limits
from sa3p_engine._outputs import (
    CommandOutput,
    CommandStatistics,
    LiveOutput,
    StateHeader,
    TurnResult,
)
from sa3p_engine._policy import Policy
from sa3p_engine._prompt import CapabilityManifest
from sa3p_engine._routines import drive, drive_async
from sa3p_parser import Instruction

__all__ = ["AsyncEngine", "Engine", "LiveOutputCallback"]

LiveOutputCallback = Callable[[LiveOutput], None]
"""Called with each piece of a terminal command's output while it runs."""

T = TypeVar("T")
VfsT = TypeVar("VfsT")
TerminalT = TypeVar("TerminalT")
ApproverT = TypeVar("ApproverT")


class _Driver(Generic[VfsT, TerminalT, ApproverT]):
    """What both drivers share: construction and the verbs that need no backend."""

    _ASYNC_APPROVER: ClassVar[bool]
    """Whether the driver can await an approver."""

    def __init__(
        self,
        vfs: VfsT,
        terminal: TerminalT,
        *,
        terminal_timeout: float | None = None,
        limits: Limits | None = None,
        clock: Callable[[], float] = time.perf_counter,
        policy: Policy | None = None,
        approver: ApproverT | None = None,
        on_output: LiveOutputCallback | None = None,
    ) -> None:
        if approver is not None and not self._ASYNC_APPROVER and _is_async(approver):
            raise TypeError("Engine needs a synchronous approver; use AsyncEngine for an async one")
        limits = limits or Limits()
        if terminal_timeout is not None:
            maximum = max(limits.max_terminal_timeout, terminal_timeout)
            limits = dataclasses.replace(
                limits, terminal_timeout=terminal_timeout, max_terminal_timeout=maximum
            )
        self._vfs = vfs
        self._terminal = terminal
        self._approver = approver
        self._on_output = on_output
        self._core = EngineCore(
            limits=limits, clock=clock, policy=policy, can_ask=approver is not None
        )

    @property
    def limits(self) -> Limits:
        return self._core.limits

    @property
    def policy(self) -> Policy | None:
        """The policy every command passes (None: every command runs)."""
        return self._core.policy

    def capability_manifest(self) -> CapabilityManifest:
        """What this engine accepts: commands, attributes, formats and limits."""
        return self._core.capability_manifest()

    def statistics(self) -> dict[str, CommandStatistics]:
        """Calls, failures, denials and total seconds per command name, since the engine
        started."""
        return self._core.statistics()


class Engine(_Driver[VirtualFileSystem, TerminalProvider, SyncApprover]):
    """Runs the commands a model streams, each as soon as its instructions are complete.

    Args:
        vfs: the workspace's files.
        terminal: runs shell commands.
        terminal_timeout: default seconds before a command is detached (else ``limits``').
        limits: every other bound (see ``Limits``).
        clock: seconds, for statistics and durations only.
        policy: the rules every command must pass (``Policy.from_file``); None: no rules.
        approver: asked when the policy says *ask*: ``approver(request)`` returns a bool or an
            ``Approval`` (``ALWAYS`` allows the same command on the same subject from then on).
            None: *ask* means *deny*, and the result says no one could be asked.
        on_output: called with each piece of a terminal command's output (a ``LiveOutput``)
            while it runs, in the calling thread; None: the terminal is not asked for it.

    Raises:
        TypeError: an async approver (use ``AsyncEngine``).
    """

    _ASYNC_APPROVER = False

    def feed(self, instruction: Instruction) -> list[CommandOutput]:
        """Take one instruction; return the outputs of the commands it completed (often none).

        Chunk boundaries carry no meaning: splitting a ``WriteChunk``, ``RawChunk`` or ``Text``
        differently gives the same results.
        """
        return self._run(self._core.feed(instruction))

    def finish_turn(self) -> TurnResult:
        """End the turn: a command still open fails (nothing of it ran), then the state header."""
        return self._run(self._core.finish_turn())

    def execute_turn(self, instructions: Iterable[Instruction]) -> TurnResult:
        """Feed every instruction, then ``finish_turn``."""
        for instruction in instructions:
            self.feed(instruction)
        return self.finish_turn()

    def state_header(self) -> StateHeader:
        """cwd, recent file hashes and active pids; a backend failure shows as empty/unknown."""
        return self._run(self._core.state_header())

    def close(self) -> None:
        """Abort an open write and end every process the terminal started. Idempotent."""
        self._run(self._core.close())

    def __enter__(self) -> Engine:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _run(self, routine: Routine[T]) -> T:
        return drive(routine, self._perform)

    def _perform(self, effect: Effect) -> Any:
        if isinstance(effect, Approve):
            assert self._approver is not None  # the core asks only when there is an approver
            return answer_of(self._approver(effect.request))
        on_output = self._on_output
        if on_output is not None and isinstance(effect, LiveEffect):
            subject = effect.subject
            on_output(LiveOutput(subject, b""))  # it starts
            return effect.call_live(
                self._vfs, self._terminal, lambda data: on_output(LiveOutput(subject, data))
            )
        return effect.call(self._vfs, self._terminal)


class AsyncEngine(
    _Driver[
        VirtualFileSystem | AsyncVirtualFileSystem,
        TerminalProvider | AsyncTerminalProvider,
        SyncApprover | AsyncApprover,
    ]
):
    """``Engine``'s verbs, awaited, on anyio (asyncio or trio).

    The backends may be native async (their methods coroutine functions, e.g. the remote
    client) or synchronous (``LocalVfs``, ``LocalTerminal``: each call then runs in a worker
    thread). Arguments as for ``Engine``; the approver may also be a coroutine function (a
    plain callable runs in a worker thread, so one that blocks on a terminal does not block the
    event loop). Use one task at a time per engine.
    """

    _ASYNC_APPROVER = True

    def __init__(
        self,
        vfs: VirtualFileSystem | AsyncVirtualFileSystem,
        terminal: TerminalProvider | AsyncTerminalProvider,
        **options: Any,
    ) -> None:
        super().__init__(vfs, terminal, **options)
        self._native_vfs = inspect.iscoroutinefunction(getattr(vfs, "read", None))
        self._native_terminal = inspect.iscoroutinefunction(getattr(terminal, "run", None))

    async def feed(self, instruction: Instruction) -> list[CommandOutput]:
        """As ``Engine.feed``."""
        return await self._run(self._core.feed(instruction))

    async def finish_turn(self) -> TurnResult:
        """As ``Engine.finish_turn``."""
        return await self._run(self._core.finish_turn())

    async def execute_turn(
        self, instructions: Iterable[Instruction] | AsyncIterable[Instruction]
    ) -> TurnResult:
        """Feed every instruction (from an iterable or an async iterable), then finish."""
        if isinstance(instructions, AsyncIterable):
            async for instruction in instructions:
                await self.feed(instruction)
        else:
            for instruction in instructions:
                await self.feed(instruction)
        return await self.finish_turn()

    async def state_header(self) -> StateHeader:
        """As ``Engine.state_header``."""
        return await self._run(self._core.state_header())

    async def aclose(self) -> None:
        """As ``Engine.close``; shielded from cancellation, so it always completes."""
        with anyio.CancelScope(shield=True):
            await self._run(self._core.close())

    async def __aenter__(self) -> AsyncEngine:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _run(self, routine: Routine[T]) -> T:
        return await drive_async(routine, self._perform)

    async def _perform(self, effect: Effect) -> Any:
        if isinstance(effect, Approve):
            return await self._ask(effect.request)
        native = self._native_terminal if effect.on_terminal else self._native_vfs
        on_output = self._on_output
        if on_output is not None and isinstance(effect, LiveEffect):
            subject = effect.subject
            on_output(LiveOutput(subject, b""))  # it starts
            if native:  # it calls back in the loop's thread already

                def relay(data: bytes) -> None:
                    on_output(LiveOutput(subject, data))

                return await effect.call_live(self._vfs, self._terminal, relay)

            def from_worker(data: bytes) -> None:  # into the loop's thread, paced by it
                anyio.from_thread.run_sync(on_output, LiveOutput(subject, data))

            return await anyio.to_thread.run_sync(
                effect.call_live, self._vfs, self._terminal, from_worker
            )
        if native:
            return await effect.call(self._vfs, self._terminal)
        return await anyio.to_thread.run_sync(effect.call, self._vfs, self._terminal)

    async def _ask(self, request: ApprovalRequest) -> Approval:
        approver = self._approver
        assert approver is not None  # the core asks only when there is an approver
        if _is_async(approver):
            answer = await approver(request)  # type: ignore[misc]
        else:
            # Abandoned on cancellation: a person who walked away must not block a cancel.
            answer = await anyio.to_thread.run_sync(approver, request, abandon_on_cancel=True)
            if inspect.isawaitable(answer):
                answer = await answer
        return answer_of(answer)


def _is_async(approver: object) -> bool:
    """A coroutine function, or an object whose ``__call__`` is one."""
    call = type(approver).__call__ if callable(approver) else None
    return inspect.iscoroutinefunction(approver) or inspect.iscoroutinefunction(call)
