"""utils.sandbox: model-written code runs with a time limit, a memory limit, no network, nothing of the project, and
no writes outside its folder; each limit is shown to be what stops the program (the same program gets through when
that one layer is off), and the canonical HumanEval solutions all pass while broken ones fail."""

import socket
import textwrap

import pytest

from utils import sandbox
from utils.sandbox import ERROR, FAILED, PASSED, TIMED_OUT, run_humaneval, run_program

NAMESPACES = pytest.mark.skipif(
    not sandbox.namespaces_available(), reason="no network namespaces here (unshare --net --map-root-user fails)"
)

PROBLEM = {
    "task_id": "Demo/0",
    "prompt": 'def add(a: int, b: int) -> int:\n    """Return the sum of a and b."""\n',
    "canonical_solution": "    return a + b\n",
    "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n",
    "entry_point": "add",
}


def program(source: str) -> str:
    return textwrap.dedent(source).strip() + "\n"


# --- verdicts ---------------------------------------------------------------------------------------------------


def test_a_correct_solution_passes_and_a_wrong_one_fails():
    good = run_humaneval(PROBLEM, PROBLEM["canonical_solution"])
    assert good.status == PASSED and good.passed and good.returncode == 0, good
    wrong = run_humaneval(PROBLEM, "    return a - b\n")
    assert wrong.status == FAILED and not wrong.passed, wrong
    assert "assert candidate(2, 3) == 5" in wrong.stderr_tail  # the failing line is in the tail


def test_a_crash_is_an_error_not_a_failure():
    result = run_humaneval(PROBLEM, "    return a + undefined_name\n")
    assert result.status == ERROR and result.detail == "NameError: name 'undefined_name' is not defined", result


@pytest.mark.parametrize("escape", ["import sys\nsys.exit(0)", "import os\nos._exit(0)"])
def test_exiting_before_the_tests_finish_is_not_a_pass(escape):
    """A completion that ends the process early never reaches the success token, whatever its exit status."""
    result = run_program(escape + "\nassert False\n")
    assert result.status == ERROR and not result.passed, result
    assert "before its tests finished" in result.detail


def test_printed_output_comes_back_without_the_token():
    result = run_program("print('hello from the sandbox')\n")
    assert result.passed and result.stdout_tail.strip() == "hello from the sandbox", result


def test_bad_limits_are_refused_with_a_message():
    with pytest.raises(ValueError, match="timeout and memory_mb must be positive, got timeout=0"):
        run_program("pass", timeout=0)


# --- time and memory (the kernel) -------------------------------------------------------------------------------


@pytest.mark.parametrize("loop", ["while True:\n    pass", "import time\ntime.sleep(60)"])
def test_an_endless_program_is_killed_at_the_time_limit(loop):
    result = run_program(loop, timeout=1.0)
    assert result.status == TIMED_OUT and result.returncode is None, result
    assert result.seconds < 1.0 + 2.5


def test_a_memory_bomb_is_stopped_by_the_memory_limit_and_only_by_it():
    bomb = "block = bytearray(400 * 1024 * 1024)\nassert len(block) > 0\n"
    stopped = run_program(bomb, memory_mb=256)
    assert stopped.status == ERROR and stopped.detail == "MemoryError", stopped
    assert run_program(bomb, memory_mb=1024).passed  # the same program with room: the limit was the cause


def test_the_kernel_limits_are_in_force_inside_and_cannot_be_raised():
    result = run_program(
        program(
            """
            import resource
            assert resource.getrlimit(resource.RLIMIT_AS) == (300 * 1024 * 1024,) * 2
            assert resource.getrlimit(resource.RLIMIT_CPU) == (3, 4)
            assert resource.getrlimit(resource.RLIMIT_NOFILE)[1] <= 64
            resource.setrlimit(resource.RLIMIT_AS, (-1, -1))
            """
        ),
        timeout=2.0,
        memory_mb=300,
    )
    assert result.status == ERROR and "resource.setrlimit is not allowed" in result.detail, result


def test_a_file_larger_than_the_cap_cannot_be_written():
    result = run_program("open('big.bin', 'wb').write(b'0' * (9 * 1024 * 1024))\n")
    assert result.status == ERROR and "File too large" in result.detail, result


# --- nothing of the project -------------------------------------------------------------------------------------


def test_nothing_of_the_project_or_its_packages_is_importable():
    for module in ("utils", "datasets", "numpy"):
        result = run_program(f"import {module}\n")
        assert result.status == ERROR and f"No module named '{module}'" in result.detail, result


def test_the_folder_is_the_cwd_and_home_and_the_environment_is_empty():
    result = run_program(
        program(
            """
            import os, sys
            assert os.path.expanduser("~") == os.getcwd() == os.environ["TMPDIR"]
            assert not [k for k in os.environ if k.startswith(("HF_", "LLM_RETREAT", "PYTHON"))], sorted(os.environ)
            assert sys.flags.isolated and sys.flags.no_site
            assert os.getcwd() not in sys.path and "" not in sys.path
            print(os.getcwd())
            """
        )
    )
    assert result.passed, result
    from pathlib import Path

    assert not Path(result.stdout_tail.strip()).exists()  # the folder is deleted afterwards


# --- no network -------------------------------------------------------------------------------------------------


@pytest.fixture
def listener():
    """A TCP server on 127.0.0.1 in the test process: a connection from the sandbox would wait in its backlog."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.setblocking(False)
    yield server
    server.close()


def connects(server: socket.socket) -> bool:
    """True when a connection reached the server (one is waiting to be accepted)."""
    try:
        client, _ = server.accept()
    except BlockingIOError:
        return False
    client.close()
    return True


def connect_program(port: int) -> str:
    return f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2).close()\n"


def test_a_connection_attempt_fails_and_the_listener_sees_nothing(listener):
    result = run_program(connect_program(listener.getsockname()[1]))
    assert result.status == ERROR, result
    assert not connects(listener)


def test_the_audit_hook_alone_refuses_the_socket_module(listener):
    result = run_program(connect_program(listener.getsockname()[1]), network_namespace=False)
    assert result.status == ERROR and "importing socket is not allowed" in result.detail, result
    assert not connects(listener)


@NAMESPACES
def test_the_network_namespace_alone_leaves_nothing_to_connect_to(listener):
    """Without the audit hook the socket module loads, but the kernel has no route: the layer holds for native code."""
    result = run_program(connect_program(listener.getsockname()[1]), python_guard=False, network_namespace=True)
    assert result.status == ERROR and result.network_namespace, result
    assert "unreachable" in result.detail.lower() or "OSError" in result.detail, result
    assert not connects(listener)


def test_the_listener_does_see_a_connection_when_both_layers_are_off(listener):
    """The broken variant: with neither layer the same program connects, so the tests above can see a connection."""
    result = run_program(connect_program(listener.getsockname()[1]), python_guard=False, network_namespace=False)
    assert result.passed, result
    assert connects(listener)


# --- writes outside the folder (the audit hook: the only layer that stops them) -----------------------------------


def test_writing_inside_the_folder_works():
    result = run_program("open('notes.txt', 'w').write('x')\nassert open('notes.txt').read() == 'x'\n")
    assert result.passed, result


@pytest.mark.parametrize(
    "action",
    [
        "open(TARGET, 'w').write('overwritten')",
        "open(TARGET, 'a').write('appended')",
        "import os\nos.remove(TARGET)",
        "import os\nos.rename(TARGET, 'stolen.txt')",
        "import shutil\nshutil.rmtree(os.path.dirname(TARGET))",
        "import os\nos.chdir(os.path.dirname(TARGET))\nopen('outside.txt', 'w').write('via a relative path')",
        "import os\nopen(os.getcwd() + '/../' + os.path.relpath(TARGET, '/'), 'w').write('via ..')",
        "import os\nfd = os.open(os.path.dirname(TARGET), os.O_RDONLY)\nos.remove('outside.txt', dir_fd=fd)",
        "import os\nos.symlink(TARGET, 'link.txt')\nopen('link.txt', 'w').write('through a link')",
        "import os, posixpath\nroot = os.getcwd()\nposixpath.abspath = posixpath.realpath = lambda p: root + '/decoy'\n"
        "open(TARGET, 'w').write('after patching the path helpers')",
    ],
)
def test_a_change_outside_the_folder_is_refused_and_the_file_is_untouched(tmp_path, action):
    target = tmp_path / "outside.txt"
    target.write_text("original")
    source = f"import os\nTARGET = {str(target)!r}\n{action}\n"
    result = run_program(source)
    assert result.status == ERROR and "PermissionError: sandbox:" in result.detail, result
    assert target.read_text() == "original" and sorted(p.name for p in tmp_path.iterdir()) == ["outside.txt"]


def test_without_the_audit_hook_the_write_outside_happens(tmp_path):
    """The broken variant, and the honest limit: the kernel does not stop it; only the Python-level hook does."""
    target = tmp_path / "outside.txt"
    result = run_program(f"open({str(target)!r}, 'w').write('escaped')\n", python_guard=False)
    assert result.passed and target.read_text() == "escaped", result


# --- other hostile completions ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "refused"),
    [
        ("import os\nos.system('echo pwned')", "os.system is not allowed"),
        ("import os\nos.fork()", "os.fork is not allowed"),
        ("import os\nos.kill(os.getppid(), 9)", "os.kill is not allowed"),
        ("import subprocess", "importing subprocess is not allowed"),
        ("import ctypes", "importing ctypes is not allowed"),
        ("import resource\nresource.setrlimit(resource.RLIMIT_AS, (-1, -1))", "resource.setrlimit is not allowed"),
    ],
)
def test_processes_signals_native_code_and_limits_are_refused(action, refused):
    result = run_program(action + "\n")
    assert result.status == ERROR and refused in result.detail, result


# --- HumanEval, the real problems -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def humaneval():
    from datasets import load_dataset

    from utils import dataset_args

    return list(load_dataset(**dataset_args("humaneval"))["test"])


@pytest.mark.assets
def test_every_canonical_humaneval_solution_passes_in_the_sandbox(humaneval):
    results = {p["task_id"]: run_humaneval(p, p["canonical_solution"]) for p in humaneval}
    failing = {task: (r.status, r.detail) for task, r in results.items() if not r.passed}
    assert len(results) == 164 and not failing, failing


@pytest.mark.assets
def test_a_broken_completion_fails_almost_every_humaneval_problem(humaneval):
    results = [run_humaneval(p, "    return None\n") for p in humaneval]
    statuses = [r.status for r in results]
    assert statuses.count(PASSED) == 0 and statuses.count(FAILED) >= 150, statuses  # seen: 159 failed, 5 errors
