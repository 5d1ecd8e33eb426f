"""The engine's two drivers side by side: ``AsyncEngine`` against ``Engine`` on the same work.

``<terminal>true</terminal>`` through each, with the synchronous ``LocalVfs``/``LocalTerminal``
(so ``AsyncEngine`` runs the terminal's blocking call in a worker thread, as it must to keep its
event loop free). The engines are fed the command's instructions; the turn's state header is
left out of both, so the row measures running a command.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable

from anyio.from_thread import start_blocking_portal

from benchmarks._harness import Measurement, case, measurement, paired_best
from sa3p_engine import AsyncEngine, Engine
from sa3p_host import LocalTerminal, LocalVfs
from sa3p_parser import Instruction, InstructionParser

GROUP = "drivers"


def _instructions(document: bytes) -> list[Instruction]:
    parser = InstructionParser()
    return [*parser.feed(document), *parser.finish()]


@case(GROUP)
def async_engine_overhead(quick: bool) -> Iterable[Measurement]:
    runs = 20 if quick else 100
    instructions = _instructions(b"<terminal>true</terminal>")
    with tempfile.TemporaryDirectory() as workspace, start_blocking_portal() as portal:
        engine = Engine(LocalVfs(workspace), LocalTerminal(workspace))
        async_engine = AsyncEngine(LocalVfs(workspace), LocalTerminal(workspace))

        def sync_runs() -> None:
            for _ in range(runs):
                for instruction in instructions:
                    engine.feed(instruction)

        async def async_runs() -> None:
            for _ in range(runs):
                for instruction in instructions:
                    await async_engine.feed(instruction)

        try:  # one hop into the loop per batch of runs, not per run
            subject, baseline = paired_best(
                lambda: portal.call(async_runs), sync_runs, repeat=3 if quick else 7
            )
        finally:
            engine.close()
            portal.call(async_engine.aclose)
    yield measurement(
        group=GROUP,
        case="AsyncEngine <terminal>true</terminal> (LocalTerminal in a worker thread)",
        unit="ms",
        subject=subject / runs * 1000,
        baseline_name="Engine, same command",
        baseline=baseline / runs * 1000,
        goal="ratio<=",
        target=1.2,
    )
