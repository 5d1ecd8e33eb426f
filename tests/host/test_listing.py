"""LocalVfs.list_tree lists exactly the files `git ls-files --cached --others --exclude-standard`
lists, on real repositories built here; and the same rules apply outside a repository."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sa3p_engine import ErrorCode, FileSystemError, NodeKind
from sa3p_host import LocalVfs


@pytest.fixture(autouse=True)
def isolated_git_config(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A global config of our own with a core.excludesFile, seen by git and by LocalVfs."""
    home = tmp_path_factory.mktemp("home")
    excludes = home / "global_ignore"
    excludes.write_text("*.globalignored\n")
    config = home / "gitconfig"
    config.write_text(f'[user]\n\tname = t\n\temail = t@t\n[Core]\n\texcludesFile = "{excludes}"\n')
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    return home


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, check=True, capture_output=True, text=True
    ).stdout


def _git_files(root: Path) -> set[str]:
    out = _git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    return {p for p in out.split("\0") if p and not p.endswith("/")}


def _our_files(root: Path, path: str = "") -> set[str]:
    return {n.path for n in LocalVfs(root).list_tree(path) if n.kind is NodeKind.FILE}


def _make(root: Path, files: dict[str, str]) -> None:
    for name, content in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)


TREE = {
    ".gitignore": "*.log\nbuild/\n!keep.log\nnode_modules\n/rootonly.txt\ndocs/*\n!docs/api/\n",
    "src/main.py": "",
    "src/debug.log": "",
    "src/keep.log": "",
    "src/.gitignore": "generated_*\n!generated_keep.py\n",
    "src/generated_a.py": "",
    "src/generated_keep.py": "",
    "src/sub/.gitignore": "!*.log\n",
    "src/sub/trace.log": "",
    "build/out.o": "",
    "build/keep.log": "",
    "node_modules/pkg/index.js": "",
    "web/node_modules/x.js": "",
    "rootonly.txt": "",
    "src/rootonly.txt": "",
    "docs/readme.md": "",
    "docs/api/index.md": "",
    "excluded_by_info.txt": "",
    "personal.globalignored": "",
    "tracked_but_ignored.log": "",
    "ignored_dir_with_tracked/.keep": "",
    "ignored_dir_with_tracked/other.txt": "",
    "spaces in name.txt": "",
    "ünïcode.txt": "",
}


def _build_repo(root: Path) -> None:
    _make(root, TREE)
    _git(root, "init", "-q")
    (root / ".git" / "info").mkdir(exist_ok=True)
    (root / ".git" / "info" / "exclude").write_text(
        "excluded_by_info.txt\nignored_dir_with_tracked/\n"
    )
    _git(root, "add", "-f", "tracked_but_ignored.log", "ignored_dir_with_tracked/.keep")
    _git(root, "add", "src/main.py")
    _git(root, "commit", "-q", "-m", "init")
    (root / "link_to_src").symlink_to("src")
    (root / "empty_dir").mkdir()


def test_listing_equals_git_on_a_real_repository(tmp_path: Path) -> None:
    _build_repo(tmp_path)
    ours = _our_files(tmp_path)
    assert ours == _git_files(tmp_path)
    assert "tracked_but_ignored.log" in ours
    assert "ignored_dir_with_tracked/.keep" in ours
    assert "ignored_dir_with_tracked/other.txt" not in ours
    assert "src/sub/trace.log" in ours
    assert not any(p.startswith(("node_modules", ".git/", "build/")) for p in ours)


def test_listing_of_a_subdirectory_equals_git(tmp_path: Path) -> None:
    _build_repo(tmp_path)
    ours = _our_files(tmp_path, "src")
    assert ours == {p for p in _git_files(tmp_path) if p.startswith("src/")}
    assert _our_files(tmp_path, "node_modules") == set()


def test_nested_repository_is_listed_but_not_entered(tmp_path: Path) -> None:
    _build_repo(tmp_path)
    _make(tmp_path, {"vendor/lib/a.c": ""})
    _git(tmp_path / "vendor" / "lib", "init", "-q")
    nodes = {n.path: n for n in LocalVfs(tmp_path).list_tree("")}
    assert "vendor/lib" in nodes
    assert "vendor/lib/a.c" not in nodes
    assert _our_files(tmp_path) == _git_files(tmp_path)


def test_index_version_4_is_read(tmp_path: Path) -> None:
    _build_repo(tmp_path)
    _git(tmp_path, "update-index", "--index-version", "4")
    _git(tmp_path, "add", "-f", "build/out.o")
    assert "build/out.o" in _our_files(tmp_path)
    assert _our_files(tmp_path) == _git_files(tmp_path)


def test_same_rules_outside_a_repository(tmp_path: Path) -> None:
    _make(tmp_path, TREE)
    ours = _our_files(tmp_path)
    assert "src/debug.log" not in ours
    assert "src/sub/trace.log" in ours
    assert "personal.globalignored" not in ours
    assert "excluded_by_info.txt" in ours  # no .git/info/exclude outside a repository
    assert not any(p.startswith("node_modules") for p in ours)


def test_directory_nodes_counts_and_recency_of_the_files_asked(tmp_path: Path) -> None:
    _make(tmp_path, {"a/b/one.txt": "", "a/two.txt": "", "a/old.txt": "", "c/old2.txt": ""})
    (tmp_path / "empty").mkdir()
    long_ago = time.time() - 3 * 24 * 3600
    for name in ("a/old.txt", "c/old2.txt"):
        os.utime(tmp_path / name, (long_ago, long_ago))
    nodes = LocalVfs(tmp_path).list_tree("")
    assert [n.path for n in nodes] == sorted(n.path for n in nodes)
    by_path = {n.path: n for n in nodes}
    assert by_path["a"].kind is NodeKind.DIRECTORY
    assert by_path["a"].descendant_file_count == 3
    assert by_path["a/b"].descendant_file_count == 1
    assert by_path["empty"].descendant_file_count == 0
    assert not any(n.modified_recently for n in nodes)  # recency is asked per shown file
    vfs = LocalVfs(tmp_path)
    asked = ["a/two.txt", "a/old.txt", "c/old2.txt", "a/b/one.txt", "missing.txt", "../x"]
    assert vfs.recently_modified(asked) == ["a/two.txt", "a/b/one.txt"]
    assert LocalVfs(tmp_path, recent_window=0.0).recently_modified(["a/two.txt"]) == []
    assert [n.path for n in LocalVfs(tmp_path).list_tree("a")] == [
        "a/b",
        "a/b/one.txt",
        "a/old.txt",
        "a/two.txt",
    ]


def test_listing_a_file_or_missing_path_fails(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    vfs = LocalVfs(tmp_path)
    for path, code in [("f", ErrorCode.NOT_A_DIRECTORY), ("nope", ErrorCode.NOT_FOUND)]:
        with pytest.raises(FileSystemError) as caught:
            vfs.list_tree(path)
        assert caught.value.code is code


NAMES = st.sampled_from(["a", "b", "c.log", "d.txt", "e.py"])
PATTERNS = st.sampled_from(
    [
        "*.log",
        "!*.log",
        "a",
        "a/",
        "/a",
        "!a",
        "b/",
        "!b/c.log",
        "**/d.txt",
        "!d.txt",
        "a/**/e.py",
        "*",
        "!*/",
        "!e.py",
        "b",
        "a/b",
        "#a",
        "\\!x",
        "d.*",
        "?.py",
        "a/**",
        "!a/b/",
        "**/b",
        "b/**/d.txt",
        "!a/**/e.py",
        "/b/c.log",
        "*/",
        "!c.log",
    ]
)


@example(files=[["d.txt", "e.py", "a"]], root_rules=["?.py", "!d.txt"], nested_rules=[])
@example(files=[["a", "b"], ["a", "e.py"]], root_rules=["a/**", "!a/b"], nested_rules=[])
@settings(
    max_examples=int(os.environ.get("SA3P_LISTING_EXAMPLES", "80")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    files=st.lists(st.lists(NAMES, min_size=1, max_size=4), min_size=1, max_size=12),
    root_rules=st.lists(PATTERNS, max_size=5),
    nested_rules=st.lists(PATTERNS, max_size=3),
)
def test_random_trees_and_rules_agree_with_git(
    tmp_path_factory: pytest.TempPathFactory,
    files: list[list[str]],
    root_rules: list[str],
    nested_rules: list[str],
) -> None:
    root = tmp_path_factory.mktemp("random")
    (root / ".gitignore").write_text("\n".join(root_rules) + "\n")
    for parts in files:
        target = root.joinpath(*parts)
        if any(p.is_file() for p in [*target.parents] if p != root and root in p.parents):
            continue
        if target.is_dir():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("")
    if (root / "a").is_dir():
        (root / "a" / ".gitignore").write_text("\n".join(nested_rules) + "\n")
    _git(root, "init", "-q")
    assert _our_files(root) == _git_files(root)


def test_worktree_with_a_dot_git_file(tmp_path: Path) -> None:
    main = tmp_path / "main"
    main.mkdir()
    _build_repo(main)
    _git(main, "worktree", "add", "-q", str(tmp_path / "wt"))
    worktree = tmp_path / "wt"
    assert (worktree / ".git").is_file()
    _make(worktree, {"new.log": "", "new.txt": "", "build/x": ""})
    assert _our_files(worktree) == _git_files(worktree)
    assert "tracked_but_ignored.log" in _our_files(worktree)


def test_default_global_excludes_file(
    tmp_path: Path, isolated_git_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (isolated_git_config / "gitconfig").write_text("[user]\n\tname = t\n\temail = t@t\n")
    xdg = tmp_path / "xdg"
    (xdg / "git").mkdir(parents=True)
    (xdg / "git" / "ignore").write_text("*.xdgignored\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(xdg))
    repo = tmp_path / "repo"
    repo.mkdir()
    _make(repo, {"a.xdgignored": "", "b.globalignored": "", "c.txt": ""})
    _git(repo, "init", "-q")
    assert _our_files(repo) == _git_files(repo) == {"b.globalignored", "c.txt"}
