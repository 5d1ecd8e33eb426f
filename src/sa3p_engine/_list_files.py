"""``list_files``: the tree below a path, laid out within a line budget.

Directories are opened breadth-first, in path order, while their entries fit in the budget; a
directory that does not fit stays collapsed and shows its file count (``name/ (312 files)``).
So the top of the tree is always visible and dense directories cost one line. Recently modified
files are marked ``*``: the listing comes without recency (knowing it costs a ``stat`` per file,
most of a big listing's cost), and only the files the layout shows — at most the line budget —
are asked about (``RecentlyModified``). The order is the sorted order of paths, so the same tree
gives the same text.
"""

from __future__ import annotations

import operator
from collections import deque
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from sa3p_engine._backend import NodeKind, TreeNode
from sa3p_engine._effects import ListTree, RecentlyModified, Routine, safely
from sa3p_engine._limits import Limits
from sa3p_engine._outputs import ListFilesOutput

__all__ = ["TreeLayout", "layout_tree", "run_list_files"]


def run_list_files(attributes: Mapping[str, str], limits: Limits) -> Routine[ListFilesOutput]:
    """Run one ``list_files`` command (backend errors propagate to the engine)."""
    path = (attributes.get("path") or ".").strip() or "."
    nodes: list[TreeNode] = yield ListTree(path)
    layout = layout_tree(nodes, limits.list_max_lines)
    unknown: list[str] | None = None
    recent = yield from safely(RecentlyModified(layout.shown_files), unknown)
    if recent is None:  # a backend without it (an older guest): the flags it listed
        recent = [node.path for node in nodes if node.modified_recently]
    return ListFilesOutput(
        command="list_files",
        ok=True,
        subject=path,
        path=path,
        listing=layout.render(frozenset(recent)),
        total_files=layout.total_files,
        collapsed_directories=layout.collapsed,
    )


@dataclass(frozen=True, slots=True)
class TreeLayout:
    """The lines of a laid-out tree, before recency is known.

    Attributes:
        lines: each line's text and, for a file, its path (None for a directory or the count of
            entries left out).
        collapsed: how many directories are shown collapsed.
        total_files: the files of the whole tree.
    """

    lines: tuple[tuple[str, str | None], ...]
    collapsed: int
    total_files: int

    @property
    def shown_files(self) -> tuple[str, ...]:
        """The paths of the files the layout shows (at most one per line)."""
        return tuple(path for _, path in self.lines if path is not None)

    def render(self, recent: Collection[str] = ()) -> str:
        """The indented text; files in ``recent`` marked ``*``."""
        return "\n".join(
            f"{text} *" if path is not None and path in recent else text
            for text, path in self.lines
        )


def layout_tree(nodes: list[TreeNode], budget: int) -> TreeLayout:
    """The tree within ``budget`` lines (``… N more entries`` past it).

    One pass groups the nodes by parent; only the entries that are shown are sorted (a big
    tree's nodes are touched once each, whatever order they come in).
    """
    children = _children(nodes)
    top = _sorted(children.get(_root_of(children), []))
    opened: set[str] = set()
    used = len(top)
    queue = deque(node for node in top if node.kind is NodeKind.DIRECTORY)
    while queue:
        directory = queue.popleft()
        entries = children.get(directory.path, [])
        if used + len(entries) > budget:
            continue
        opened.add(directory.path)
        used += len(entries)
        queue.extend(node for node in _sorted(entries) if node.kind is NodeKind.DIRECTORY)
    lines: list[tuple[str, str | None]] = []
    collapsed = _lay_out(top, children, opened, 0, lines)
    if len(lines) > budget:
        lines = [*lines[:budget], (f"… {len(lines) - budget} more entries", None)]
    total = sum(
        node.descendant_file_count if node.kind is NodeKind.DIRECTORY else 1 for node in top
    )
    return TreeLayout(tuple(lines), collapsed, total)


_PATH = operator.attrgetter("path")


def _children(nodes: list[TreeNode]) -> dict[str, list[TreeNode]]:
    """The nodes by parent directory, in the order given."""
    children: dict[str, list[TreeNode]] = {}
    for node in nodes:
        parent = node.path.rpartition("/")[0]
        siblings = children.get(parent)
        if siblings is None:
            children[parent] = [node]
        else:
            siblings.append(node)
    return children


def _sorted(entries: list[TreeNode]) -> list[TreeNode]:
    """``entries`` sorted by path, in place (a listing comes sorted: then it costs one pass)."""
    entries.sort(key=_PATH)
    return entries


def _root_of(children: Mapping[str, list[TreeNode]]) -> str:
    """The listed directory: the shortest parent among the nodes."""
    return min(children, key=lambda item: (len(item), item), default="")


def _lay_out(
    entries: list[TreeNode],
    children: Mapping[str, list[TreeNode]],
    opened: set[str],
    depth: int,
    lines: list[tuple[str, str | None]],
) -> int:
    """Append the lines of ``entries``; return how many directories were shown collapsed."""
    indent = "  " * depth
    collapsed = 0
    for node in entries:
        name = node.path.rpartition("/")[2]
        if node.kind is NodeKind.FILE:
            lines.append((f"{indent}{name}", node.path))
        elif node.path in opened:
            lines.append((f"{indent}{name}/", None))
            collapsed += _lay_out(children.get(node.path, []), children, opened, depth + 1, lines)
        else:
            lines.append((f"{indent}{name}/ ({node.descendant_file_count} files)", None))
            collapsed += 1
    return collapsed
