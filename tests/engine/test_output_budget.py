"""The output budget of a turn: results in full until it is spent, then one status line each."""

from __future__ import annotations

import tracemalloc

import pytest

from sa3p_engine import (
    Limits,
    NoticeOutput,
    ReadFileOutput,
    SummaryOutput,
    WriteFileOutput,
)
from sa3p_engine.testing import ScriptedCommand
from sa3p_parser import EndTag, StartTag

from .engine_helpers import command, make_engine

BIG = "".join(f"line {n}: {'x' * 40}\n" for n in range(100)).encode()  # ~5 KB, 100 lines


@pytest.mark.slow  # ~8 s: tracemalloc slows every allocation
def test_a_turn_of_12000_reads_stays_under_a_fixed_memory_bound() -> None:
    engine, _, _ = make_engine({"big.txt": BIG})
    start, end = StartTag("read_file", {"path": "big.txt"}), EndTag("read_file")
    delivered = 0
    notices = 0
    tracemalloc.start()
    try:
        for _ in range(12_000):  # in full: 12,000 x ~5 KB = ~60 MB of results
            engine.feed(start)
            for output in engine.feed(end):
                delivered += 1
                notices += isinstance(output, NoticeOutput)
        turn = engine.finish_turn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20, f"peak {peak / 2**20:.1f} MiB"
    assert notices == 1 and len(turn.outputs) == delivered == 12_001
    full = [o for o in turn.outputs if isinstance(o, ReadFileOutput)]
    assert sum(len(o.render()) for o in full) <= Limits().turn_output_bytes
    assert len(full) == Limits().turn_output_bytes // len(full[0].render())


def test_the_notice_comes_once_before_the_first_reduced_result() -> None:
    engine, _, _ = make_engine({"big.txt": BIG}, limits=Limits(turn_output_bytes=12_000))
    read = command("read_file", path="big.txt")
    turn = engine.execute_turn(read * 5)
    kinds = [type(output).__name__ for output in turn.outputs]
    assert kinds == [
        "ReadFileOutput",
        "ReadFileOutput",
        "NoticeOutput",
        "SummaryOutput",
        "SummaryOutput",
        "SummaryOutput",
    ]
    notice = turn.outputs[2].render()
    assert notice.startswith("[notice] this turn's results passed 12000 bytes")
    summary = turn.outputs[3]
    assert isinstance(summary, SummaryOutput) and summary.ok
    full = turn.outputs[0].render()
    assert summary.render() == f"{full.splitlines()[0]} [100 more lines not shown]"
    assert summary.subject == "big.txt" and "\n" not in summary.render()
    assert turn.render().count("[notice]") == 1


def test_the_budget_is_per_turn() -> None:
    engine, _, _ = make_engine({"big.txt": BIG}, limits=Limits(turn_output_bytes=12_000))
    for _ in range(2):
        turn = engine.execute_turn(command("read_file", path="big.txt") * 3)
        assert [type(o) for o in turn.outputs][:2] == [ReadFileOutput, ReadFileOutput]


def test_one_line_results_stay_whole_and_failures_stay_failures() -> None:
    scripts = {"noisy": ScriptedCommand(output=b"out\n" * 1000, exit_code=2)}
    engine, vfs, _ = make_engine({"big.txt": BIG}, scripts, limits=Limits(turn_output_bytes=100))
    turn = engine.execute_turn(
        [
            *command("read_file", path="big.txt"),
            *command("write_file", "x", path="w.txt"),
            *command("read_file", path="missing.txt"),
            *command("terminal", "noisy"),
            *command("apply_edit", path="big.txt"),
        ]
    )
    notice, read, write, missing, noisy, empty = turn.outputs
    assert isinstance(notice, NoticeOutput) and isinstance(read, SummaryOutput)
    assert isinstance(write, WriteFileOutput) and vfs.read("w.txt") == b"x"
    assert not missing.ok and missing.render().startswith("[read_file missing.txt] FAILED")
    assert isinstance(noisy, SummaryOutput) and noisy.ok
    assert (
        noisy.render()
        == "[terminal noisy] exit code 2, 0.01s, 4000 bytes of output [1000 more lines not shown]"
    )
    assert not empty.ok and empty.error and "\n" not in empty.render()


def test_a_long_first_line_is_cut() -> None:
    scripts = {"x" * 500: ScriptedCommand(output=b"y" * 5000)}
    engine, _, _ = make_engine(scripts=scripts, limits=Limits(turn_output_bytes=10))
    _, reduced = engine.execute_turn(command("terminal", "x" * 500)).outputs
    assert len(reduced.render().partition(" [")[0]) <= 300


def test_what_feed_returned_is_what_the_turn_holds() -> None:
    engine, _, _ = make_engine({"big.txt": BIG}, limits=Limits(turn_output_bytes=8_000))
    fed = [out for item in command("read_file", path="big.txt") * 4 for out in engine.feed(item)]
    assert list(engine.finish_turn().outputs) == fed


def test_a_denial_stays_whole_past_the_budget() -> None:
    from sa3p_engine import DeniedOutput, Policy

    policy = Policy.from_toml(
        'default = "allow"\n[[rule]]\naction = "deny"\ncommand = "write"\npath = "locked/**"\n'
        'reason = "' + "the owner keeps these files as they are " * 10 + '"\n'
    )
    engine, _, _ = make_engine(
        {"big.txt": BIG}, limits=Limits(turn_output_bytes=100), policy=policy
    )
    _, _, denied = engine.execute_turn(
        [*command("read_file", path="big.txt"), *command("write_file", "x", path="locked/a")]
    ).outputs
    assert isinstance(denied, DeniedOutput) and len(denied.render()) > 400
