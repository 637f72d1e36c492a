"""Run model-written Python (a HumanEval completion and its tests) in a separate, limited process.

:func:`run_program` writes the program to a fresh temporary folder and runs it there with the standard library only,
then deletes the folder. :func:`run_humaneval` builds the program from a HumanEval problem and a completion.
Both return a :class:`SandboxResult`: ``passed``, ``failed`` (an ``assert`` of the tests failed), ``timed out``
or ``error`` (anything else: an exception, a refused operation, the memory limit, an early exit), with the tail of
what the program printed.

What is enforced, and by what:

- **by the kernel**, whatever the program does: the parent kills the whole process group at the wall-clock limit;
  resource limits that the harness sets on itself before the program starts, with hard limits so they cannot be
  raised again (only real root can, outside a user namespace; the audit hook refuses it too) (CPU seconds; address space, ``RLIMIT_AS``, so a memory bomb gets ``MemoryError``; the size of any file
  written, ``RLIMIT_FSIZE``, stdout included, so it cannot fill the disk; no core dumps; few open files); and, where
  ``unshare --net --map-root-user`` works (Linux with unprivileged user namespaces), **no network**: the program runs
  in a new network namespace whose only interface is a loopback that is down, so even native code cannot connect
  anywhere, the machine's own 127.0.0.1 included. :attr:`SandboxResult.network_namespace` says whether it was used.
- **by the interpreter**: ``python -I -S -B`` (isolated: no ``PYTHON*`` variables, no user or site packages, so
  nothing of this project and none of its packages is importable; the cwd is not on ``sys.path``), the fresh folder as
  its working directory, ``HOME`` and ``TMPDIR``, and an almost empty environment.
- **by a Python audit hook** (PEP 578), installed before the program runs: importing ``socket``, ``ctypes``,
  ``subprocess``, ``multiprocessing``, ``sqlite3`` and the like is refused (``ImportError``); starting processes
  (``os.system``, ``os.fork``, ``os.exec*``, ``posix_spawn``), sending signals (``os.kill``: the parent is the
  notebook's kernel), raising resource limits, creating links, and opening a file for writing, creating, deleting,
  renaming or changing anything **outside its folder** are refused (``PermissionError``). This is the only layer
  that stops writes outside the folder, and the only network block where namespaces are unavailable (macOS, some
  containers).

These are Linux facts; macOS accepts ``RLIMIT_AS`` but does not enforce it, and a limit the system refuses is named
on stderr ("sandbox: could not set ...").

What is **not** stopped: reading any file the user can read (the program may print your files; without a network it
cannot send them anywhere); CPU and memory use up to the limits; writes through native code that bypasses Python's
audit events (the standard library's ``os.mkfifo``/``os.mknod`` raise none; importing the usual ways to load native
code is refused); and anything exploiting a bug in the interpreter. CPython documents audit hooks as a way to watch
a process, *not* as a security boundary. The verdict itself can be forged by code written to do it (it shares the
interpreter with the harness that reports it); ``sys.exit(0)`` or ``os._exit(0)`` before the tests finish is not a
pass, because success is a random token printed only after the tests. Code from an untrusted source belongs in a
container or a virtual machine with no network and a throwaway disk; this sandbox contains the mistakes a small
model makes and the obvious hostile completions a lesson shows.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PASSED, FAILED, TIMED_OUT, ERROR = "passed", "failed", "timed out", "error"
EXIT_FAILED = 3  # the harness caught an AssertionError: the tests ran and one failed
EXIT_ERROR = 4  # the harness caught any other exception (SystemExit included)
MAX_FILE_BYTES = 8 * 1024 * 1024  # RLIMIT_FSIZE: no file, stdout included, grows beyond this
MAX_OPEN_FILES = 64
UNSHARE = ("unshare", "--net", "--map-root-user")

# The harness: installs the audit hook, runs program.py, prints the token only if it got through the tests.
# Everything the hook uses is bound as a default argument when it is defined (builtins and C functions), so a program
# that replaces module attributes (os.path.realpath, builtins.isinstance, ...) does not change what the hook decides;
# once installed, the hook is removed from the harness's globals, so the program has no name to reach it by.
HARNESS = r"""
import sys


def _inside(path, root, getcwd):
    if not path.startswith("/"):
        path = getcwd() + "/" + path
    parts = []
    for part in path.split("/"):
        if part == "" or part == ".":
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    full = "/" + "/".join(parts)
    return full == root or full.startswith(root + "/")


def _guard(event, args, _root=ROOT, _inside=_inside, _posix=__import__("posix"), _type=type, _str=str, _bytes=bytes,
           _int=int, _len=len, _PermissionError=PermissionError, _ImportError=ImportError,
           _blocked_imports=BLOCKED_IMPORTS, _blocked_events=BLOCKED_EVENTS, _blocked_prefixes=BLOCKED_PREFIXES,
           _path_events=PATH_EVENTS, _write_flags=WRITE_FLAGS):
    if event == "import":
        if args[0].partition(".")[0] in _blocked_imports:
            raise _ImportError("sandbox: importing " + args[0] + " is not allowed here")
        return
    if event in _blocked_events or event.startswith(_blocked_prefixes):
        raise _PermissionError("sandbox: " + event + " is not allowed here")
    if event == "open":
        path, flags = args[0], args[2]
        if _type(path) is _int:
            return  # an already open file descriptor
        if _type(path) is _bytes:
            path = _bytes.decode(path, "utf-8", "surrogateescape")
        if _type(path) is not _str:
            raise _PermissionError("sandbox: name files with str or bytes here")
        if _inside(path, _root, _posix.getcwd):
            return
        if flags & _write_flags:
            raise _PermissionError("sandbox: writing outside the sandbox folder is not allowed: " + path)
        try:
            is_dir = (_posix.stat(path).st_mode & 0o170000) == 0o040000
        except OSError:
            return
        if is_dir:  # a directory descriptor would let dir_fd= reach outside the folder
            raise _PermissionError("sandbox: opening a directory outside the sandbox folder is not allowed: " + path)
        return
    if event in _path_events:
        paths, dir_fds = _path_events[event]
        for index in dir_fds:
            if index < _len(args) and args[index] is not None and args[index] != -1:
                raise _PermissionError("sandbox: " + event + " with dir_fd is not allowed here")
        for index in paths:
            path = args[index]
            if _type(path) is _bytes:
                path = _bytes.decode(path, "utf-8", "surrogateescape")
            if _type(path) is not _str or not _inside(path, _root, _posix.getcwd):
                raise _PermissionError("sandbox: " + event + " outside the sandbox folder is not allowed: " + _str(path))


def _main():
    import resource

    # Lowering a limit is always allowed; raising it again would need the hard limit, which is set equal (and the
    # hook refuses resource.setrlimit). Set here, not between fork and exec: preexec_fn is unsafe in a threaded
    # parent such as a Jupyter kernel.
    for name, soft, hard in LIMITS:
        try:
            resource.setrlimit(getattr(resource, name), (soft, hard))
        except (AttributeError, ValueError, OSError) as error:  # e.g. a system without that limit
            print("sandbox: could not set", name, "-", error, file=sys.stderr)
    token = sys.stdin.readline().strip()
    source = open("program.py", encoding="utf-8").read()
    code = compile(source, "program.py", "exec")
    sys.addaudithook(_guard)
    # From here on only the interpreter's hook list holds the hook: the program cannot reach it to change it.
    globals().pop("_guard", None)
    globals().pop("_inside", None)
    try:
        exec(code, {"__name__": "__main__", "__builtins__": __builtins__})
    except AssertionError:
        import traceback

        traceback.print_exc()
        sys.stderr.flush()
        __import__("posix")._exit(EXIT_FAILED)
    except BaseException as error:
        import traceback

        traceback.print_exc()
        if isinstance(error, SystemExit):
            print("sandbox: the program exited (SystemExit) before its tests finished", file=sys.stderr)
        sys.stderr.flush()
        __import__("posix")._exit(EXIT_ERROR)
    sys.stdout.flush()
    sys.stderr.flush()
    __import__("posix").write(1, ("\n" + token + "\n").encode())


_main()
"""

BLOCKED_IMPORTS = frozenset(
    {
        "socket",
        "_socket",
        "ssl",
        "_ssl",
        "asyncio",
        "ctypes",
        "_ctypes",
        "subprocess",
        "_posixsubprocess",
        "multiprocessing",
        "_multiprocessing",
        "_posixshmem",
        "concurrent",
        "sqlite3",
        "_sqlite3",
        "dbm",
        "_dbm",
        "_gdbm",
        "readline",
        "syslog",
        "pty",
    }
)
BLOCKED_EVENTS = frozenset(
    {
        "os.system",
        "os.exec",
        "os.fork",
        "os.forkpty",
        "os.posix_spawn",
        "os.spawn",
        "os.kill",
        "os.killpg",
        "signal.pthread_kill",
        "resource.setrlimit",
        "resource.prlimit",
        "os.symlink",
        "os.link",
        "os.chroot",
        "gc.get_objects",
        "gc.get_referrers",
        "gc.get_referents",
        "sqlite3.connect",
    }
)
BLOCKED_PREFIXES = (
    "socket.",
    "ctypes.",
    "subprocess.",
    "urllib.",
    "http.client.",
    "ftplib.",
    "smtplib.",
    "imaplib.",
    "poplib.",
    "nntplib.",
    "telnetlib.",
    "webbrowser.",
    "os.setuid",
    "os.setgid",
)
# Audit events that change the file system: (indices of path arguments, indices of dir_fd arguments).
PATH_EVENTS = {
    "os.remove": ((0,), (1,)),
    "os.rmdir": ((0,), (1,)),
    "os.mkdir": ((0,), (2,)),
    "os.chmod": ((0,), (2,)),
    "os.chown": ((0,), (3,)),
    "os.rename": ((0, 1), (2, 3)),
    "os.truncate": ((0,), ()),
    "os.utime": ((0,), (3,)),
    "os.setxattr": ((0,), ()),
    "os.removexattr": ((0,), ()),
    "shutil.rmtree": ((0,), (1,)),
    "shutil.copyfile": ((1,), ()),
    "shutil.copymode": ((1,), ()),
    "shutil.copystat": ((1,), ()),
    "shutil.copytree": ((1,), ()),
    "shutil.make_archive": ((0,), ()),
}
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


@dataclass(frozen=True)
class SandboxResult:
    """What one run did: ``status`` is ``"passed"``, ``"failed"``, ``"timed out"`` or ``"error"``."""

    status: str
    detail: str  # one line: why (the exception's last line, the signal, the limit)
    returncode: int | None  # None when it was killed for running too long
    seconds: float  # wall-clock time of the run
    stdout_tail: str
    stderr_tail: str
    network_namespace: bool  # True: no network by the kernel; False: only the audit hook blocks it

    @property
    def passed(self) -> bool:
        return self.status == PASSED


@lru_cache(maxsize=1)
def namespaces_available() -> bool:
    """True when ``unshare --net --map-root-user`` runs here (asked once per process)."""
    if shutil.which(UNSHARE[0]) is None:
        return False
    try:
        probe = subprocess.run([*UNSHARE, "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return probe.returncode == 0


def harness_source(root: str, limits: list[tuple[str, int, int]], python_guard: bool = True) -> str:
    """The harness script for a sandbox folder ``root`` and the kernel ``limits`` (see :func:`limits`), without the
    audit hook when ``python_guard`` is False."""
    constants = {
        "ROOT": root,
        "LIMITS": limits,
        "BLOCKED_IMPORTS": BLOCKED_IMPORTS,
        "BLOCKED_EVENTS": BLOCKED_EVENTS,
        "BLOCKED_PREFIXES": BLOCKED_PREFIXES,
        "PATH_EVENTS": PATH_EVENTS,
        "WRITE_FLAGS": WRITE_FLAGS,
        "EXIT_FAILED": EXIT_FAILED,
        "EXIT_ERROR": EXIT_ERROR,
    }
    header = "".join(f"{name} = {value!r}\n" for name, value in constants.items())
    source = HARNESS if python_guard else HARNESS.replace("    sys.addaudithook(_guard)\n", "    pass\n")
    return header + source


def limits(seconds: float, memory_bytes: int) -> list[tuple[str, int, int]]:
    """The kernel limits the harness sets on itself before the program runs: ``(RLIMIT name, soft, hard)``."""
    cpu = int(seconds) + 1
    return [
        ("RLIMIT_AS", memory_bytes, memory_bytes),
        ("RLIMIT_CPU", cpu, cpu + 1),
        ("RLIMIT_FSIZE", MAX_FILE_BYTES, MAX_FILE_BYTES),
        ("RLIMIT_CORE", 0, 0),
        ("RLIMIT_NOFILE", MAX_OPEN_FILES, MAX_OPEN_FILES),
    ]


def _tail(path: Path, chars: int) -> str:
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - 4 * chars))
        text = handle.read().decode("utf-8", errors="replace")
    return text[-chars:]


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def run_program(
    program: str,
    timeout: float = 5.0,
    memory_mb: int = 512,
    network_namespace: bool | None = None,
    python_guard: bool = True,
    tail_chars: int = 2000,
) -> SandboxResult:
    """Run ``program`` (Python source) in a fresh temporary folder under the limits in this module's docstring.

    ``network_namespace``: None uses one where available, True requires one (RuntimeError if unavailable), False
    never uses one. ``python_guard=False`` leaves out the audit hook (only to show what each layer stops).
    Returns a :class:`SandboxResult`; raises ValueError for a non-positive ``timeout`` or ``memory_mb``.
    """
    if timeout <= 0 or memory_mb <= 0:
        raise ValueError(f"timeout and memory_mb must be positive, got timeout={timeout}, memory_mb={memory_mb}")
    use_namespace = namespaces_available() if network_namespace is None else network_namespace
    if use_namespace and not namespaces_available():
        raise RuntimeError("network_namespace=True, but `unshare --net --map-root-user` does not work on this machine")
    folder = Path(tempfile.mkdtemp(prefix="sandbox-")).resolve()
    outputs = Path(tempfile.mkdtemp(prefix="sandbox-out-")).resolve()
    try:
        (folder / "program.py").write_text(program, encoding="utf-8")
        harness = outputs / "harness.py"
        harness.write_text(
            harness_source(str(folder), limits(timeout, memory_mb * 1024 * 1024), python_guard), encoding="utf-8"
        )
        command = [sys.executable, "-I", "-S", "-B", str(harness)]
        if use_namespace:
            command = [*UNSHARE, *command]
        environment = {"PATH": os.defpath, "HOME": str(folder), "TMPDIR": str(folder), "LANG": "C.UTF-8"}
        token = secrets.token_hex(16)
        stdout_path, stderr_path = outputs / "stdout", outputs / "stderr"
        start = time.monotonic()
        with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
            process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=stdout,
                stderr=stderr,
                cwd=folder,
                env=environment,
                start_new_session=True,  # its own process group: a time-out kills everything it started
            )
            try:
                process.communicate(input=(token + "\n").encode(), timeout=timeout)
                returncode: int | None = process.returncode
            except subprocess.TimeoutExpired:
                returncode = None
            finally:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                process.wait()
        seconds = time.monotonic() - start
        stdout_text = _tail(stdout_path, tail_chars + len(token) + 2)
        stderr_text = _tail(stderr_path, tail_chars)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(outputs, ignore_errors=True)
    got_token = stdout_text.rstrip().endswith(token)
    if got_token:
        stdout_text = stdout_text.rstrip()[: -len(token)].rstrip("\n")
    status, detail = _verdict(returncode, got_token, stderr_text, timeout)
    return SandboxResult(
        status, detail, returncode, seconds, stdout_text[-tail_chars:], stderr_text, bool(use_namespace)
    )


def _verdict(returncode: int | None, got_token: bool, stderr: str, timeout: float) -> tuple[str, str]:
    if returncode is None:
        return TIMED_OUT, f"still running after {timeout:g} s: killed"
    if returncode == 0 and got_token:
        return PASSED, "all tests passed"
    if returncode == EXIT_FAILED:
        return FAILED, _last_line(stderr) or "AssertionError"
    if returncode < 0:
        name = signal.Signals(-returncode).name
        why = {"SIGXCPU": "CPU time limit", "SIGXFSZ": "file size limit", "SIGKILL": "killed"}.get(name, name)
        return (TIMED_OUT if name == "SIGXCPU" else ERROR), f"stopped by {name} ({why})"
    if returncode == 0:
        return ERROR, "exited before its tests finished (no success token)"
    return ERROR, _last_line(stderr) or f"exit status {returncode}"


def humaneval_program(problem: dict, completion: str) -> str:
    """The program HumanEval runs: prompt + completion, the problem's tests, then ``check(entry_point)``."""
    return f"{problem['prompt']}{completion}\n\n{problem['test']}\n\ncheck({problem['entry_point']})\n"


def run_humaneval(problem: dict, completion: str, **limits) -> SandboxResult:
    """Run one HumanEval completion against its problem's tests (``limits`` as for :func:`run_program`)."""
    return run_program(humaneval_program(problem, completion), **limits)
