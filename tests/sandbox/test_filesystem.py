"""What the sandbox can see and write: each rule checked in a real sandbox, then on the host."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sa3p_host._sandbox import SandboxPolicy

from .sandbox_support import (
    python_inside,
    run_inside,
    shell_inside,
    unique_name,
)


@pytest.fixture
def host_home_secret() -> Iterator[Path]:
    """A secret file in the real home of the user running the tests, removed afterwards."""
    path = Path(os.path.expanduser("~")) / unique_name(".sa3p-test-secret")
    path.write_text("api-key\n")
    try:
        yield path
    finally:
        path.unlink()


@pytest.mark.parametrize("directory", ["/etc", "/usr", "/var/tmp"])
def test_writes_to_the_host_system_fail_and_leave_nothing(
    bwrap: str, policy: SandboxPolicy, directory: str
) -> None:
    target = Path(directory) / unique_name("sa3p-sandbox-write")
    try:
        done = shell_inside(bwrap, policy, f"echo x > {target}")
        assert done.returncode != 0
        assert "Read-only file system" in done.stderr
        assert not target.exists()
    finally:
        target.unlink(missing_ok=True)  # only if confinement failed


@pytest.mark.parametrize("directory", ["/tmp", os.path.expanduser("~")])
def test_writes_to_tmp_and_home_stay_inside(
    bwrap: str, policy: SandboxPolicy, directory: str
) -> None:
    target = Path(directory) / unique_name("sa3p-sandbox-write")
    try:
        done = shell_inside(bwrap, policy, f"echo x > {target} && cat {target}")
        assert (done.returncode, done.stdout) == (0, "x\n")
        assert not target.exists()
    finally:
        target.unlink(missing_ok=True)


def test_workspace_writes_land_on_the_host(bwrap: str, policy: SandboxPolicy) -> None:
    done = shell_inside(bwrap, policy, "mkdir -p sub && echo hello > sub/file && pwd")
    assert (done.returncode, done.stdout) == (0, f"{policy.workspace}\n")
    assert (Path(policy.workspace) / "sub" / "file").read_text() == "hello\n"


def test_home_contents_are_hidden(
    bwrap: str, policy: SandboxPolicy, host_home_secret: Path
) -> None:
    home = os.path.realpath(os.path.expanduser("~"))
    done = shell_inside(bwrap, policy, f'cat {host_home_secret}; echo "$HOME"; ls -A "$HOME"')
    assert "No such file or directory" in done.stderr
    home_line, in_home = done.stdout.split("\n", 1)
    assert home_line == home
    # Only the way to what sa3p runs from (pyenv keeps the interpreter under /root/.pyenv).
    runtime = [os.path.realpath(p) for p in (sys.base_prefix, sys.prefix, sys.executable)]
    allowed = {Path(p).relative_to(home).parts[0] for p in runtime if p.startswith(home + "/")}
    assert set(in_home.split()) <= allowed
    assert host_home_secret.name not in in_home
    assert shell_inside(bwrap, policy, "ls -A /home").stdout == ""


def test_run_is_hidden_with_its_sockets(bwrap: str, policy: SandboxPolicy) -> None:
    assert os.listdir("/run"), "the host's /run should have something to hide"
    done = shell_inside(bwrap, policy, "ls -A /run | wc -l")
    assert (done.returncode, done.stdout.strip()) == (0, "0")


def test_dev_and_proc_are_fresh(bwrap: str, policy: SandboxPolicy) -> None:
    code = (
        "import json, os\n"
        "print(json.dumps(sorted(os.listdir('/dev'))))\n"
        "print(json.dumps(sorted(int(n) for n in os.listdir('/proc') if n.isdigit())))\n"
    )
    done = python_inside(bwrap, policy, code)
    devices, pids = (json.loads(line) for line in done.stdout.splitlines())
    assert set(devices) <= {
        "core", "fd", "full", "mqueue", "null", "ptmx", "pts", "random", "shm", "stderr",
        "stdin", "stdout", "tty", "urandom", "zero",
    }  # fmt: skip
    assert pids == [1, 2]  # bwrap's reaper and this command, nothing of the host


def test_sa3p_and_its_interpreter_are_usable_and_read_only(
    bwrap: str, policy: SandboxPolicy
) -> None:
    code = (
        "import sys, sa3p_host, sa3p_engine, sa3p_parser, sa3p_protocol, anyio, psutil\n"
        "import sa3p_host._guest\n"
        "package = sa3p_host.__path__[0]\n"
        "try:\n"
        "    open(package + '/sa3p-sandbox-probe', 'w')\n"
        "except OSError as error:\n"
        "    print(error.strerror)\n"
    )
    done = python_inside(bwrap, policy, code)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.strip() in ("Read-only file system", "Permission denied")


def test_an_interpreter_in_tmp_stays_visible(
    bwrap: str, policy: SandboxPolicy, tmp_path: Path
) -> None:
    """A virtual environment under /tmp is re-shown over the sandbox's private /tmp."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True, timeout=60)
    site_packages = next(venv.glob("lib/python*/site-packages"))
    # This venv finds sa3p and its dependencies where the running one does.
    source = Path(__import__("sa3p_host").__path__[0]).parent
    dependencies = Path(__import__("anyio").__path__[0]).parent
    (site_packages / "sa3p-test.pth").write_text(f"{source}\n{dependencies}\n")
    script = (
        "import os, subprocess, sys\n"
        "from sa3p_host._sandbox import SandboxPolicy, sandboxed_command, sandboxed_environment\n"
        "bwrap, workspace, runtime_dir = sys.argv[1:]\n"
        "policy = SandboxPolicy(workspace=workspace, runtime_dir=runtime_dir)\n"
        "argv = [sys.executable, '-c', 'import sys, sa3p_host, anyio; print(sys.prefix)']\n"
        "done = subprocess.run(sandboxed_command(policy, argv, bwrap=bwrap),\n"
        "    env=sandboxed_environment(policy, os.environ), capture_output=True, text=True)\n"
        "print(done.returncode, done.stdout.strip(), done.stderr.strip())\n"
    )
    python = venv / "bin" / "python"
    done = subprocess.run(
        [python, "-c", script, bwrap, policy.workspace, policy.runtime_dir],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.stdout.strip() == f"0 {venv}", done.stderr


def test_extra_read_only_paths_are_shown_read_only(
    bwrap: str, policy: SandboxPolicy, tmp_path: Path
) -> None:
    tool = tmp_path / "tool"
    tool.mkdir()
    (tool / "data").write_text("tool\n")
    protected = Path(policy.workspace) / "protected"
    protected.mkdir()
    shown = dataclasses.replace(policy, extra_read_only=(str(tool), str(protected)))
    done = shell_inside(
        bwrap,
        shown,
        f"cat {tool}/data; touch {tool}/new; touch protected/new; touch elsewhere; echo done",
    )
    assert done.stdout == "tool\ndone\n"
    assert done.stderr.count("Read-only file system") == 2
    assert not (tool / "new").exists() and not (protected / "new").exists()
    assert (Path(policy.workspace) / "elsewhere").exists()


def test_runtime_dir_is_writable(bwrap: str, policy: SandboxPolicy) -> None:
    done = shell_inside(bwrap, policy, f"echo up > {policy.runtime_dir}/state")
    assert done.returncode == 0
    assert (Path(policy.runtime_dir) / "state").read_text() == "up\n"


class TestGit:
    """What host-side git would run or obey is read-only; what commits need stays writable."""

    @staticmethod
    def make_git_dir(path: Path, *, hooks: bool = True) -> None:
        for part in ("objects", "refs/heads"):
            (path / part).mkdir(parents=True)
        if hooks:
            (path / "hooks").mkdir()
            (path / "hooks" / "pre-commit.sample").write_text("#!/bin/sh\n")
        (path / "config").write_text("[core]\n\tbare = false\n")
        (path / "HEAD").write_text("ref: refs/heads/main\n")

    def test_config_and_hooks_are_read_only_and_the_rest_writable(
        self, bwrap: str, policy: SandboxPolicy
    ) -> None:
        git = Path(policy.workspace) / ".git"
        self.make_git_dir(git)
        script = (
            "echo '[core] fsmonitor = evil' >> .git/config; "
            "echo evil > .git/hooks/pre-commit; "
            "rm .git/hooks/pre-commit.sample; "
            "mv .git .git-moved; "
            "mv .git/hooks .git/hooks-moved; "
            "echo object > .git/objects/x && echo index > .git/index && echo tree > file && "
            "echo writable"
        )
        done = shell_inside(bwrap, policy, script)
        assert done.stdout == "writable\n"
        assert done.stderr.count("Read-only file system") == 3
        assert done.stderr.count("busy") == 2  # .git and its hooks are mount points
        assert (git / "config").read_text() == "[core]\n\tbare = false\n"
        assert sorted(os.listdir(git / "hooks")) == ["pre-commit.sample"]
        assert (git / "objects" / "x").read_text() == "object\n"
        assert (git / "index").exists() and (Path(policy.workspace) / "file").exists()

    def test_missing_hooks_cannot_be_created(self, bwrap: str, policy: SandboxPolicy) -> None:
        git = Path(policy.workspace) / ".git"
        self.make_git_dir(git, hooks=False)
        done = shell_inside(bwrap, policy, "echo evil > .git/hooks/pre-commit")
        assert done.returncode != 0
        assert os.listdir(git / "hooks") == []  # an empty mount point is all that is left

    def test_a_gitdir_pointer_is_read_only(self, bwrap: str, policy: SandboxPolicy) -> None:
        pointer = Path(policy.workspace) / ".git"
        pointer.write_text("gitdir: /elsewhere/.git/worktrees/w\n")
        done = shell_inside(bwrap, policy, "echo 'gitdir: /tmp/evil' > .git")
        assert "Read-only file system" in done.stderr
        assert pointer.read_text() == "gitdir: /elsewhere/.git/worktrees/w\n"

    def test_submodule_git_dirs_are_protected_too(self, bwrap: str, policy: SandboxPolicy) -> None:
        submodule = Path(policy.workspace) / ".git" / "modules" / "lib"
        self.make_git_dir(Path(policy.workspace) / ".git")
        self.make_git_dir(submodule)
        script = (
            "echo evil >> .git/modules/lib/config; "
            "echo evil > .git/modules/lib/hooks/post-checkout; "
            "echo object > .git/modules/lib/objects/x && echo writable"
        )
        done = shell_inside(bwrap, policy, script)
        assert done.stdout == "writable\n"
        assert done.stderr.count("Read-only file system") == 2

    def test_a_linked_hooks_dir_makes_git_and_its_target_read_only(
        self, bwrap: str, policy: SandboxPolicy
    ) -> None:
        """A link inside .git could be swapped for another; where it points stays read-only."""
        git = Path(policy.workspace) / ".git"
        self.make_git_dir(git, hooks=False)
        (Path(policy.workspace) / "githooks").mkdir()
        (git / "hooks").symlink_to("../githooks")
        script = "rm .git/hooks; echo x > .git/objects/x; echo evil > githooks/pre-commit"
        done = shell_inside(bwrap, policy, script)
        assert done.stderr.count("Read-only file system") == 3
        assert (git / "hooks").is_symlink()
        assert os.listdir(git / "hooks") == []

    @pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
    def test_git_commits_inside(self, bwrap: str, policy: SandboxPolicy) -> None:
        subprocess.run(["git", "init", "-q", policy.workspace], check=True, timeout=30)
        script = (
            "echo content > file && git add file && "
            "git -c user.name=model -c user.email=model@sandbox commit -q -m inside && "
            "git log --format=%s"
        )
        done = run_inside(bwrap, policy, ["sh", "-c", script])
        assert (done.returncode, done.stdout) == (0, "inside\n"), done.stderr
