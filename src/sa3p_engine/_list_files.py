"""``list_files``: the tree below a path, laid out within a line budget.

Directories are opened breadth-first, in path order, while their entries fit in the budget; a
directory that does not fit stays collapsed and shows its file count (``name/ (312 files)``).
So the top of the tree is always visible and dense directories cost one line. Recently modified
files are marked ``*``. The order is the sorted order of paths, so the same tree gives the same
text.
"""

from __future__ import annotations

import posixpath
from collections import deque
from collections.abc import Mapping

from sa3p_engine._backend import NodeKind, TreeNode
from sa3p_engine._effects import ListTree, Routine
from sa3p_engine._limits import Limits
from sa3p_engine._outputs import ListFilesOutput

__all__ = ["layout_tree", "run_list_files"]


def run_list_files(attributes: Mapping[str, str], limits: Limits) -> Routine[ListFilesOutput]:
    """Run one ``list_files`` command (backend errors propagate to the engine)."""
    path = (attributes.get("path") or ".").strip() or "."
    nodes: list[TreeNode] = yield ListTree(path)
    listing, collapsed = layout_tree(nodes, limits.list_max_lines)
    total = sum(1 for node in nodes if node.kind is NodeKind.FILE)
    return ListFilesOutput(
        command="list_files",
        ok=True,
        subject=path,
        path=path,
        listing=listing,
        total_files=total,
        collapsed_directories=collapsed,
    )


def layout_tree(nodes: list[TreeNode], budget: int) -> tuple[str, int]:
    """The indented tree text and how many directories stayed collapsed."""
    children = _children(nodes)
    top = children.get(_root_of(nodes), [])
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
        queue.extend(node for node in entries if node.kind is NodeKind.DIRECTORY)
    lines: list[str] = []
    collapsed = _render(top, children, opened, 0, lines)
    if len(lines) > budget:
        lines = [*lines[:budget], f"… {len(lines) - budget} more entries"]
    return "\n".join(lines), collapsed


def _children(nodes: list[TreeNode]) -> dict[str, list[TreeNode]]:
    children: dict[str, list[TreeNode]] = {}
    for node in sorted(nodes, key=lambda item: item.path):
        children.setdefault(posixpath.dirname(node.path), []).append(node)
    return children


def _root_of(nodes: list[TreeNode]) -> str:
    """The listed directory: the shortest parent among the nodes."""
    if not nodes:
        return ""
    return min((posixpath.dirname(node.path) for node in nodes), key=lambda item: (len(item), item))


def _render(
    entries: list[TreeNode],
    children: Mapping[str, list[TreeNode]],
    opened: set[str],
    depth: int,
    lines: list[str],
) -> int:
    """Append the lines of ``entries``; return how many directories were shown collapsed."""
    indent = "  " * depth
    collapsed = 0
    for node in entries:
        name = posixpath.basename(node.path)
        if node.kind is NodeKind.FILE:
            mark = " *" if node.modified_recently else ""
            lines.append(f"{indent}{name}{mark}")
        elif node.path in opened:
            lines.append(f"{indent}{name}/")
            collapsed += _render(children.get(node.path, []), children, opened, depth + 1, lines)
        else:
            lines.append(f"{indent}{name}/ ({node.descendant_file_count} files)")
            collapsed += 1
    return collapsed
