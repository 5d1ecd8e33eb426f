"""Builders for hand-made instruction streams (what the parser would emit)."""

from __future__ import annotations

from sa3p_engine import CommandOutput, Engine
from sa3p_engine.testing import MemoryFileSystem, ScriptedCommand, ScriptedTerminal
from sa3p_parser import EndTag, Instruction, RawChunk, StartTag, Text, WriteChunk

RAW_BODY_TAGS = {"terminal", "search", "replace", "apply_patch"}


def command(name: str, body: bytes | str = b"", **attributes: str) -> list[Instruction]:
    """One command as the parser emits it: start tag, body pieces, end tag."""
    data = body.encode() if isinstance(body, str) else body
    pieces: list[Instruction] = [StartTag(name, attributes)]
    if data and name == "write_file":
        pieces.append(WriteChunk(data))
    elif data and name in RAW_BODY_TAGS:
        pieces.append(RawChunk(name, data))
    elif data:
        pieces.append(Text(data.decode()))
    pieces.append(EndTag(name))
    return pieces


def edit(path: str, *pairs: tuple[str, str], **attributes: str) -> list[Instruction]:
    """An apply_edit with search/replace pairs."""
    pieces: list[Instruction] = [StartTag("apply_edit", {"path": path, **attributes})]
    for search, replace in pairs:
        pieces += [*command("search", search), Text("\n"), *command("replace", replace)]
    return [*pieces, EndTag("apply_edit")]


def text_edit(path: str, body: str, **attributes: str) -> list[Instruction]:
    """An apply_edit whose body is text (conflict markers or a diff)."""
    return [StartTag("apply_edit", {"path": path, **attributes}), Text(body), EndTag("apply_edit")]


def make_engine(
    files: dict[str, bytes] | None = None,
    scripts: dict[str, ScriptedCommand] | None = None,
    **options: object,
) -> tuple[Engine, MemoryFileSystem, ScriptedTerminal]:
    vfs = MemoryFileSystem(files or {})
    terminal = ScriptedTerminal(scripts or {})
    return Engine(vfs, terminal, **options), vfs, terminal  # type: ignore[arg-type]


def run_both(
    files: dict[str, bytes], instructions: list[Instruction]
) -> tuple[list[CommandOutput], dict[str, bytes]]:
    """Run one turn through ``Engine`` and ``AsyncEngine`` on equal in-memory files; they must
    agree. Returns the outputs and the files afterwards."""
    import anyio

    from sa3p_engine import AsyncEngine

    def snapshot(vfs: MemoryFileSystem) -> dict[str, bytes]:
        return {
            node.path: vfs.read(node.path)
            for node in vfs.list_tree(".")
            if node.kind.value == "file"
        }

    engine, vfs, _ = make_engine(dict(files))
    outputs = list(engine.execute_turn(instructions).outputs)

    async def run_async() -> tuple[list[CommandOutput], dict[str, bytes]]:
        async_vfs = MemoryFileSystem(dict(files))
        async with AsyncEngine(async_vfs, ScriptedTerminal()) as async_engine:
            turn = await async_engine.execute_turn(instructions)
        return list(turn.outputs), snapshot(async_vfs)

    async_outputs, async_files = anyio.run(run_async)
    assert [o.render() for o in async_outputs] == [o.render() for o in outputs]
    assert async_files == snapshot(vfs)
    return outputs, snapshot(vfs)


def run_one(engine: Engine, instructions: list[Instruction]) -> CommandOutput:
    """Run a turn that must produce exactly one output; return it."""
    outputs = engine.execute_turn(instructions).outputs
    assert len(outputs) == 1, [output.render() for output in outputs]
    return outputs[0]


class Recorder:
    """A backend (or writer) wrapper that logs every method call as ``(name, args)`` in a list
    shared with the writers it returns: a test asserts exactly which effects happened."""

    def __init__(self, backend: object, calls: list[tuple[str, tuple[object, ...]]]) -> None:
        self._backend = backend
        self.calls = calls

    def __getattr__(self, name: str) -> object:
        method = getattr(self._backend, name)

        def call(*args: object, **kwargs: object) -> object:
            self.calls.append((name, args))
            result = method(*args, **kwargs)
            return Recorder(result, self.calls) if hasattr(result, "commit") else result

        return call


def recorded_engine(
    files: dict[str, bytes] | None = None,
    scripts: dict[str, ScriptedCommand] | None = None,
    **options: object,
) -> tuple[Engine, MemoryFileSystem, list[tuple[str, tuple[object, ...]]]]:
    """An engine on in-memory backends whose every call is recorded in the returned list."""
    calls: list[tuple[str, tuple[object, ...]]] = []
    vfs = MemoryFileSystem(files or {})
    terminal = ScriptedTerminal(scripts or {})
    engine = Engine(Recorder(vfs, calls), Recorder(terminal, calls), **options)  # type: ignore[arg-type]
    return engine, vfs, calls
