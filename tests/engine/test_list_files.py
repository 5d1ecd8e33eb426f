"""list_files: the tree within a line budget, dense directories collapsed, recent marked."""

from __future__ import annotations

from sa3p_engine import Engine, Limits, ListFilesOutput, NodeKind, TreeNode
from sa3p_engine._list_files import layout_tree
from sa3p_engine.testing import MemoryFileSystem, ScriptedTerminal

from .engine_helpers import command, make_engine, recorded_engine, run_one

FILES = {
    "README.md": b"",
    "src/app.py": b"",
    "src/util/io.py": b"",
    **{f"node_modules/pkg{n}/index.js": b"" for n in range(30)},
}


def listing(files: dict[str, bytes], budget: int = 200, **attributes: str) -> ListFilesOutput:
    engine, _, _ = make_engine(files, limits=Limits(list_max_lines=budget))
    output = run_one(engine, command("list_files", **attributes))
    assert isinstance(output, ListFilesOutput), output.render()
    return output


def test_small_tree_is_shown_whole_in_sorted_order() -> None:
    output = listing({"b.txt": b"", "a/x.py": b"", "a/y.py": b""})
    assert output.listing == "a/\n  x.py\n  y.py\nb.txt"
    assert output.total_files == 3 and output.collapsed_directories == 0


def test_dense_directories_collapse_to_a_file_count_within_the_budget() -> None:
    output = listing(FILES, budget=10)
    lines = output.listing.splitlines()
    assert len(lines) <= 10
    assert "node_modules/ (30 files)" in lines
    assert "src/" in lines and "  app.py" in lines and "    io.py" in lines
    assert output.collapsed_directories == 1
    assert "1 dense directories collapsed" in output.render()


def test_the_path_attribute_lists_a_subdirectory() -> None:
    output = listing(FILES, path="src")
    assert output.listing == "app.py\nutil/\n  io.py"


def test_recently_modified_files_are_marked() -> None:
    engine, _, _ = make_engine({"old.txt": b""})
    engine.execute_turn(command("write_file", b"x", path="new.txt"))
    output = run_one(engine, command("list_files"))
    assert isinstance(output, ListFilesOutput)
    assert output.listing == "new.txt *\nold.txt"
    assert "(* = modified in the last 24 h)" in output.render()


def test_too_many_top_level_entries_are_cut_with_a_count() -> None:
    nodes = [TreeNode(path=f"f{n:03}", kind=NodeKind.FILE) for n in range(50)]
    text = layout_tree(nodes, 10).render()
    assert text.splitlines()[-1] == "… 40 more entries" and len(text.splitlines()) == 11


def test_layout_is_deterministic_whatever_the_node_order() -> None:
    _engine, vfs, _ = make_engine(FILES)
    nodes = vfs.list_tree(".")
    assert layout_tree(nodes, 12) == layout_tree(list(reversed(nodes)), 12)


def test_recency_is_asked_of_the_shown_files_only() -> None:
    engine, _vfs, calls = recorded_engine(FILES, limits=Limits(list_max_lines=10))
    engine.execute_turn(command("write_file", b"x", path="node_modules/pkg1/new.js"))
    engine.execute_turn(command("write_file", b"x", path="src/new.py"))
    calls.clear()
    output = engine.execute_turn(command("list_files")).outputs[0]
    assert isinstance(output, ListFilesOutput)
    asked = [args[0] for name, args in calls if name == "recently_modified"]
    assert len(asked) == 1 and isinstance(asked[0], tuple)
    assert set(asked[0]) == {"README.md", "src/app.py", "src/new.py", "src/util/io.py"}
    assert "  new.py *" in output.listing.splitlines()  # node_modules is collapsed: not asked
    assert "new.js" not in output.listing


def test_a_backend_without_recency_marks_what_its_listing_flagged() -> None:
    class OlderVfs:
        def __init__(self, vfs: object) -> None:
            self._vfs = vfs

        def __getattr__(self, name: str) -> object:
            if name == "recently_modified":
                raise AttributeError(name)
            return getattr(self._vfs, name)

        def list_tree(self, path: str) -> list[TreeNode]:
            return [
                TreeNode(path="a.txt", kind=NodeKind.FILE, modified_recently=True),
                TreeNode(path="b.txt", kind=NodeKind.FILE),
            ]

    vfs = MemoryFileSystem({})
    with Engine(OlderVfs(vfs), ScriptedTerminal()) as engine:  # type: ignore[arg-type]
        output = engine.execute_turn(command("list_files")).outputs[0]
    assert isinstance(output, ListFilesOutput) and output.listing == "a.txt *\nb.txt"


def test_errors() -> None:
    engine, _, _ = make_engine({"f.txt": b""})
    missing = run_one(engine, command("list_files", path="nope"))
    assert not missing.ok and "nope does not exist" in (missing.error or "")
    outside = run_one(engine, command("list_files", path="../.."))
    assert not outside.ok and "outside the workspace" in (outside.error or "")


def test_empty_workspace() -> None:
    assert "(empty)" in listing({}).render()
