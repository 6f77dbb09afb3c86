"""On your machine: the password from the keyring, or asked for once; never a prompt in CI.

The keyring is a real ``keyring`` with a small file-backed backend that the user project
ships (no system keyring needed), or one that never answers; the prompt is answered (or the
run ended) through a real pseudo-terminal. Whatever happens, the run ends, nothing it started
keeps running, and the terminal echoes as it did before.
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import select
import signal
import subprocess
import sys
import termios
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_barapi.terminal import PromptTerminal
from tests import reference_server
from tests.conftest import unset_barapi_env
from tests.reference_server import ReferenceServer

# Test keyrings, each a module of the user's project named by PYTHON_KEYRING_BACKEND. Every one
# notes each read in $TEST_KEYRING.asked (appended: a second read of the run shows as a second
# line), then answers in its own way; none can be written to.
FILE_KEYRING = """
import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend


class NotingKeyring(KeyringBackend):
    priority = 1

    def get_password(self, service, username):
        with open(os.environ["TEST_KEYRING"] + ".asked", "a") as asked:
            asked.write(f"{service} {username}\\n")
        return self.answer(service, username)

    def answer(self, service, username):
        raise NotImplementedError

    def set_password(self, service, username, password):
        raise NotImplementedError

    def delete_password(self, service, username):
        raise NotImplementedError


class FileKeyring(NotingKeyring):
    def answer(self, service, username):
        store = Path(os.environ["TEST_KEYRING"])
        return json.loads(store.read_text()).get(service, {}).get(username)
"""

# A keyring daemon that does not answer, or a locked keychain: get_password waits. Not for
# ever, so that a run that waits for it (the bug) still ends, long after any test gave up.
SILENT_KEYRING = """
import threading

from file_keyring import NotingKeyring


class SilentKeyring(NotingKeyring):
    def answer(self, service, username):
        threading.Event().wait(600)
"""

# keyrings.alt's EncryptedKeyring: get_password asks for the keyring's own password on the
# terminal, with the echo off, and waits there as long as nobody answers. "unlock" opens it.
PROMPTING_KEYRING = """
import getpass

from file_keyring import FileKeyring


class PromptingKeyring(FileKeyring):
    def answer(self, service, username):
        typed = getpass.getpass("Please enter password for encrypted keyring: ")
        # Said once getpass gave the terminal back: another prompt's answer may follow.
        with open("/dev/tty", "w") as tty:
            tty.write("Keyring read.\\n")
        if typed == "unlock":
            return super().answer(service, username)
"""

# A backend broken in its own way: macOS's keychain raises its api.Error, Windows' credential
# store pywintypes.error, neither a KeyringError.
RAISING_KEYRING = """
from file_keyring import NotingKeyring


class RaisingKeyring(NotingKeyring):
    def answer(self, service, username):
        raise ValueError(f"the keychain broke reading {service}")
"""

# Backends that answer what is not a password: only a string is one.
ODD_KEYRING = """
from file_keyring import NotingKeyring


class BytesKeyring(NotingKeyring):
    def answer(self, service, username):
        return b"fake-password-Pw9xQ"


class IntKeyring(NotingKeyring):
    def answer(self, service, username):
        return 12345678
"""

# Each case runs in one process and with pytest-xdist workers.
WORKERS = [pytest.param((), id="one-process"), pytest.param(("-n", "2"), id="xdist")]

NEEDS_THE_TOKEN = """
import pytest

def test_me(barapi_session):
    assert barapi_session.get("/v1/me").json()["user"] == "alice@example.test"

@pytest.mark.parametrize("n", range(3))
def test_plain(n):
    pass
"""


@pytest.fixture
def at_a_machine(
    pytester: pytest.Pytester, barapi_server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A person's machine: no CI variable, no password in the environment, a keyring file."""
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("BARAPI_PASSWORD")
    store = pytester.path / "keyring.json"
    store.write_text("{}")
    monkeypatch.setenv("TEST_KEYRING", str(store))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "file_keyring.FileKeyring")
    pytester.makepyfile(
        file_keyring=FILE_KEYRING,
        silent_keyring=SILENT_KEYRING,
        prompting_keyring=PROMPTING_KEYRING,
        raising_keyring=RAISING_KEYRING,
        odd_keyring=ODD_KEYRING,
        test_suite=NEEDS_THE_TOKEN,
    )
    return store


def asked(store: Path) -> list[str]:
    log = Path(f"{store}.asked")
    return log.read_text().splitlines() if log.exists() else []


@pytest.mark.parametrize("workers", WORKERS)
def test_the_password_comes_from_the_keyring_under_the_url_and_user(
    pytester: pytest.Pytester,
    barapi_server: ReferenceServer,
    at_a_machine: Path,
    workers: tuple[str, ...],
) -> None:
    at_a_machine.write_text(
        json.dumps({barapi_server.url: {reference_server.USER: reference_server.PASSWORD}})
    )

    # Under pytest-xdist a worker reads the keyring, and the controller prints the summary.
    result = pytester.runpytest_subprocess(*workers)

    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*password: not set*", "barapi: password from the keyring"])
    assert asked(at_a_machine) == [f"{barapi_server.url} {reference_server.USER}"]
    assert barapi_server.token_request_count == 1
    assert reference_server.PASSWORD not in result.stdout.str()


def test_the_keyring_is_not_asked_when_no_selected_test_needs_a_token(
    pytester: pytest.Pytester, at_a_machine: Path
) -> None:
    pytester.runpytest_subprocess("-m", "not barapi").assert_outcomes(passed=3)
    assert asked(at_a_machine) == []


def test_an_empty_keyring_is_the_usual_missing_credentials_error(
    pytester: pytest.Pytester, barapi_server: ReferenceServer, at_a_machine: Path
) -> None:
    result = pytester.runpytest_subprocess()

    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(
        ["barapi: missing credentials, no request sent: set --barapi-password / BARAPI_PASSWORD"]
    )
    assert len(asked(at_a_machine)) == 1
    assert barapi_server.token_request_count == 0


@pytest.mark.parametrize("workers", WORKERS)
def test_a_keyring_that_breaks_is_as_if_there_were_none(
    pytester: pytest.Pytester,
    barapi_server: ReferenceServer,
    at_a_machine: Path,
    monkeypatch: pytest.MonkeyPatch,
    workers: tuple[str, ...],
) -> None:
    # Whatever the backend raises: the usual one-line error, no traceback of the keyring's.
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "raising_keyring.RaisingKeyring")

    result = pytester.runpytest_subprocess(*workers)

    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(
        ["barapi: missing credentials, no request sent: set --barapi-password / BARAPI_PASSWORD"]
    )
    assert "Traceback" not in result.stdout.str()
    assert "the keychain broke" not in result.stdout.str()
    assert asked(at_a_machine) == [f"{barapi_server.url} {reference_server.USER}"]
    assert barapi_server.token_request_count == 0


@pytest.mark.parametrize("workers", WORKERS)
@pytest.mark.parametrize("backend", ["BytesKeyring", "IntKeyring"])
def test_a_keyring_answer_that_is_not_a_string_is_as_if_there_were_none(
    pytester: pytest.Pytester,
    barapi_server: ReferenceServer,
    at_a_machine: Path,
    monkeypatch: pytest.MonkeyPatch,
    backend: str,
    workers: tuple[str, ...],
) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", f"odd_keyring.{backend}")

    result = pytester.runpytest_subprocess(*workers)

    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(
        ["barapi: missing credentials, no request sent: set --barapi-password / BARAPI_PASSWORD"]
    )
    assert "Traceback" not in result.stdout.str()
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    assert asked(at_a_machine) == [f"{barapi_server.url} {reference_server.USER}"]
    assert barapi_server.token_request_count == 0


def test_in_ci_neither_the_keyring_nor_a_person_is_asked(
    pytester: pytest.Pytester,
    barapi_server: ReferenceServer,
    at_a_machine: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    at_a_machine.write_text(
        json.dumps({barapi_server.url: {reference_server.USER: reference_server.PASSWORD}})
    )
    monkeypatch.setenv("CI", "true")

    output, _prompts = run_at_a_terminal(pytester, answer=None)

    assert "barapi: missing credentials, no request sent" in output
    assert "barapi password for" not in output
    assert asked(at_a_machine) == []


@dataclass
class AtATerminal:
    """How a run at a terminal went."""

    output: str  # what pytest printed (on the terminal, or in the file it printed to)
    prompts: int  # password prompts the terminal showed
    exit_code: int
    echoes: bool | None  # whether the terminal echoes after the run (None: it was closed)
    left_running: list[str]  # processes of the run's session still alive after it ended


def run_at_a_terminal(pytester: pytest.Pytester, answer: str | None, *args: str) -> tuple[str, int]:
    """Run pytest at a terminal, answering each password prompt with ``answer``; return what
    the terminal showed and how many prompts it asked."""
    ran = at_a_terminal(pytester, *args, answer=answer)
    return ran.output, ran.prompts


def at_a_terminal(
    pytester: pytest.Pytester,
    *args: str,
    answer: str | None = None,
    at_the_prompt: str | None = None,
    output_to_a_file: bool = False,
    prompt: bytes = b"barapi password for",
    together: int = 1,
    read: bytes | None = None,
    stdin: int | None = None,
) -> AtATerminal:
    """Run pytest with a pseudo-terminal as its controlling terminal and stdin, in a session
    of its own, the way a shell starts it.

    Each password prompt is answered with ``answer``, or ``at_the_prompt`` ends the run there:
    "ctrl-c" (typed), "sigterm" (sent to pytest, as ``kill`` does) or "closed" (the terminal
    window closed: its master side goes away, and SIGHUP reaches every process of the run),
    or "nobody" leaves it unanswered. ``prompt`` is how a prompt starts.
    With ``output_to_a_file``, pytest prints to a file (``pytest > log``), which outlives a
    closed terminal. With ``together``, no prompt is answered before that many are up at once;
    with ``read`` (what the terminal shows once an answer was read), each answer waits for
    the one before to be read (a getpass that returns flushes what was typed ahead). With
    ``stdin`` (``subprocess.DEVNULL``), stdin is not the terminal (``pytest < /dev/null``).
    """
    master, terminal = pty.openpty()
    echoed_before = bool(termios.tcgetattr(terminal)[3] & termios.ECHO)
    log = pytester.path / "pytest.log"
    out = log.open("wb") if output_to_a_file else terminal
    # A new session, and the terminal opened in it: it becomes the controlling terminal. The
    # signals a terminal sends start at their defaults, as a shell at a terminal sets them for
    # what it runs: this suite may itself run with them ignored (started by `nohup`, or in the
    # background of a script), and an ignored signal stays ignored across exec.
    take_the_terminal = "import os, signal, sys; os.close(os.open(sys.argv[1], os.O_RDWR)); "
    take_the_terminal += "[signal.signal(s, signal.SIG_DFL) for s in "
    take_the_terminal += "(signal.SIGINT, signal.SIGHUP, signal.SIGTERM, signal.SIGQUIT)]; "
    take_the_terminal += "os.execv(sys.executable, sys.argv[2:])"
    command = [sys.executable, "-c", take_the_terminal, os.ttyname(terminal)]
    command += [sys.executable, "-m", "pytest"]
    process = subprocess.Popen(
        [*command, "-p", "no:cacheprovider", *args],
        stdin=terminal if stdin is None else stdin,
        stdout=out,
        stderr=out,
        cwd=pytester.path,
        start_new_session=True,
    )
    if output_to_a_file:
        out.close()  # type: ignore[union-attr]
    shown = b""
    prompts = 0
    master_open = terminal_open = True
    deadline = time.monotonic() + 120  # far beyond any run here: only a hung run gets there
    try:
        while process.poll() is None and time.monotonic() < deadline:
            if not master_open:
                time.sleep(0.05)
                continue
            ready, _, _ = select.select([master], [], [], 0.1)
            if not ready:
                continue
            try:
                chunk = os.read(master, 4096)
            except OSError:
                chunk = b""
            shown += chunk
            while (
                shown.count(prompt) > prompts
                and shown.count(prompt) >= together
                and (read is None or shown.count(read) >= prompts)
            ):
                prompts += 1
                if at_the_prompt == "ctrl-c":
                    os.write(master, b"\x03")
                elif at_the_prompt == "sigterm":
                    process.send_signal(signal.SIGTERM)
                elif at_the_prompt == "closed":
                    os.close(master)  # the kernel signals pytest, the session's leader
                    master_open = False
                    # and a shell passes SIGHUP on to its jobs: each process of the run
                    os.killpg(process.pid, signal.SIGHUP)
                elif at_the_prompt == "nobody":
                    pass
                else:
                    os.write(master, (answer or "").encode() + b"\n")
        hung = process.poll() is None
        if hung:
            with contextlib.suppress(OSError):
                os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        left_running = _still_running(session=process.pid, within=60)
        for pid, _command in left_running:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        try:
            echoes: bool | None = bool(termios.tcgetattr(terminal)[3] & termios.ECHO)
        except termios.error:  # closed: nothing to echo on
            echoes = None
        # The run's last words (its summary) may still be in the terminal, unread: it can end
        # while this process is not looking. Once no process holds the terminal, its master
        # side gives all that is left, then the end.
        os.close(terminal)
        terminal_open = False
        if master_open:
            shown += _the_rest(master)
            prompts = shown.count(prompt)
    finally:
        if master_open:
            os.close(master)
        if terminal_open:
            os.close(terminal)
    assert not hung, "the run hung"
    assert echoed_before
    output = log.read_text(errors="replace") if output_to_a_file else shown.decode(errors="replace")
    return AtATerminal(
        output, prompts, process.returncode, echoes, [command for _, command in left_running]
    )


def _the_rest(master: int) -> bytes:
    """What is left to read on ``master`` once nothing holds the terminal's other side (the
    read then fails with EIO; a process of the run still holding it is waited for, 10 s at
    most per read)."""
    rest = b""
    while select.select([master], [], [], 10)[0]:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: all read, and nobody left to write
            break
        if not chunk:
            break
        rest += chunk
    return rest


def _still_running(session: int, within: float) -> list[tuple[int, str]]:
    """The processes of ``session`` still alive once ``within`` seconds have passed (or at
    once, when none is)."""
    deadline = time.monotonic() + within
    while True:
        alive = []
        for entry in Path("/proc").iterdir():
            try:
                stat = (entry / "stat").read_text()
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except (OSError, ValueError):
                continue
            state, _parent, _group, sid = stat[stat.rindex(")") + 2 :].split()[:4]
            if int(sid) == session and state != "Z":
                alive.append((int(entry.name), command))
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


def test_at_a_terminal_the_password_is_asked_once_without_echo(
    pytester: pytest.Pytester, barapi_server: ReferenceServer, at_a_machine: Path
) -> None:
    pytester.makepyfile(
        test_more="""
        def test_again(barapi_session):
            assert barapi_session.get("/v1/me").status_code == 200
        """
    )

    output, prompts = run_at_a_terminal(pytester, reference_server.PASSWORD)

    assert prompts == 1
    assert f"barapi password for {reference_server.USER} at {barapi_server.url}: " in output
    assert reference_server.PASSWORD not in output  # not echoed, not printed
    assert "5 passed" in output
    assert "barapi: password from the prompt" in output
    assert barapi_server.token_request_count == 1


def test_under_xdist_the_person_is_asked_once_for_every_worker(
    pytester: pytest.Pytester, barapi_server: ReferenceServer, at_a_machine: Path
) -> None:
    pytester.makepyfile(
        test_more="""
        import pytest

        @pytest.mark.parametrize("n", range(8))
        def test_again(barapi_session, n):
            assert barapi_session.get("/v1/me").status_code == 200
        """
    )

    output, prompts = run_at_a_terminal(pytester, reference_server.PASSWORD, "-n", "2")

    assert prompts == 1
    assert reference_server.PASSWORD not in output
    assert "12 passed" in output
    assert "barapi: password from the prompt" in output
    assert barapi_server.token_request_count == 1


def test_an_empty_answer_is_the_usual_missing_credentials_error(
    pytester: pytest.Pytester, barapi_server: ReferenceServer, at_a_machine: Path
) -> None:
    output, prompts = run_at_a_terminal(pytester, "")

    assert prompts == 1
    assert "barapi: missing credentials, no request sent" in output
    assert barapi_server.token_request_count == 0


def test_without_a_terminal_nothing_is_asked_and_nothing_hangs(
    pytester: pytest.Pytester, barapi_server: ReferenceServer, at_a_machine: Path
) -> None:
    result = pytester.runpytest_subprocess(timeout=60)  # stdin is not a terminal

    result.assert_outcomes(passed=3, errors=1)
    assert "barapi password for" not in result.stdout.str()


def test_the_session_tells_the_token_it_will_send_next(
    pytester: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    barapi_server.before_api_request[2] = barapi_server.revoke_access_tokens
    pytester.makepyfile(
        """
        def test_hand_the_token_to_another_client(barapi_session, barapi_token):
            assert barapi_session.token == barapi_token
            assert barapi_session.get("/v1/me").status_code == 200
            assert barapi_session.get("/v1/me").status_code == 200  # renewed after a 401
            assert barapi_session.token != barapi_token
            assert barapi_session.token.access_token != barapi_token.access_token
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    assert barapi_server.token_request_count == 2


SILENT = (
    "barapi: the keyring did not answer within 1s (--barapi-timeout / BARAPI_TIMEOUT), no "
    "request sent: set --barapi-password / BARAPI_PASSWORD instead, or unlock the keyring"
)


@pytest.mark.parametrize("workers", WORKERS)
def test_a_keyring_that_does_not_answer_is_an_error_once_the_timeout_is_up(
    pytester: pytest.Pytester,
    barapi_server: ReferenceServer,
    at_a_machine: Path,
    monkeypatch: pytest.MonkeyPatch,
    workers: tuple[str, ...],
) -> None:
    # Without a terminal (an IDE's runner, cron) the keyring is read too: never for longer
    # than the timeout. The keyring here waits ten minutes; the run may take one.
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "silent_keyring.SilentKeyring")

    result = pytester.runpytest_subprocess("--barapi-timeout=1", *workers, timeout=60)

    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines([SILENT])
    assert asked(at_a_machine) == [f"{barapi_server.url} {reference_server.USER}"]
    assert barapi_server.token_request_count == 0


@pytest.mark.parametrize("workers", WORKERS)
def test_at_a_terminal_a_silent_keyring_is_the_same_error_and_no_prompt(
    pytester: pytest.Pytester,
    barapi_server: ReferenceServer,
    at_a_machine: Path,
    monkeypatch: pytest.MonkeyPatch,
    workers: tuple[str, ...],
) -> None:
    # No prompt after it: a keyring that does not answer may be waiting on the terminal too.
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "silent_keyring.SilentKeyring")

    ran = at_a_terminal(pytester, "--barapi-timeout=1", *workers, answer="never asked")

    assert ran.prompts == 0
    assert SILENT in ran.output
    assert asked(at_a_machine) == [f"{barapi_server.url} {reference_server.USER}"]
    assert ran.exit_code == pytest.ExitCode.TESTS_FAILED, ran.output
    assert ran.echoes
    assert ran.left_running == []
    assert barapi_server.token_request_count == 0


ENDINGS = ["ctrl-c", "sigterm", "closed"]


@pytest.mark.parametrize("workers", WORKERS)
@pytest.mark.parametrize("ending", ENDINGS)
def test_a_run_ended_at_the_prompt_is_interrupted_and_gives_the_terminal_back(
    pytester: pytest.Pytester,
    barapi_server: ReferenceServer,
    at_a_machine: Path,
    ending: str,
    workers: tuple[str, ...],
) -> None:
    # Printed to a file (pytest > log): it outlives a terminal that was closed.
    ran = at_a_terminal(pytester, *workers, at_the_prompt=ending, output_to_a_file=True)

    assert ran.prompts == 1
    assert ran.exit_code == pytest.ExitCode.INTERRUPTED, ran.output
    assert "!!! KeyboardInterrupt !!!" in ran.output  # pytest's usual interrupted summary
    assert "Traceback" not in ran.output
    assert "INTERNALERROR" not in ran.output
    assert ran.left_running == []  # no worker, no process of the run
    assert ran.echoes is (None if ending == "closed" else True)
    assert barapi_server.token_request_count == 0


KEYRING_PROMPT = b"Please enter password for encrypted keyring: "


@pytest.mark.parametrize("workers", WORKERS)
def test_a_keyring_that_prompts_and_times_out_leaves_the_terminal_as_it_was(
    pytester: pytest.Pytester,
    barapi_server: ReferenceServer,
    at_a_machine: Path,
    monkeypatch: pytest.MonkeyPatch,
    workers: tuple[str, ...],
) -> None:
    # An encrypted file keyring asks for its own password, echo off; nobody answers it. Its
    # read times out and the run goes on, while the keyring still waits with the echo off:
    # the run's end gives the terminal back.
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "prompting_keyring.PromptingKeyring")

    ran = at_a_terminal(
        pytester, "--barapi-timeout=1", *workers, at_the_prompt="nobody", prompt=KEYRING_PROMPT
    )

    assert ran.prompts >= 1  # under xdist, each worker's keyring may ask
    assert SILENT in ran.output
    assert ran.exit_code == pytest.ExitCode.TESTS_FAILED, ran.output
    assert ran.echoes
    assert ran.left_running == []
    assert barapi_server.token_request_count == 0


def test_keyrings_that_prompt_at_once_leave_the_terminal_as_it_was(
    pytester: pytest.Pytester,
    barapi_server: ReferenceServer,
    at_a_machine: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Two workers' keyrings prompt at once: the second getpass saves the first one's echo-off
    # state, and puts that back when it returns. The run's end gives the terminal back as it
    # was before the first of them.
    passwords = {
        reference_server.USER: reference_server.PASSWORD,
        reference_server.OTHER_USER: reference_server.OTHER_PASSWORD,
    }
    at_a_machine.write_text(json.dumps({barapi_server.url: passwords}))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "prompting_keyring.PromptingKeyring")
    # Two tests, two workers: one each, each needing its own user's password.
    pytester.makepyfile(
        test_suite=f"""
        def test_alice(barapi_session):
            assert barapi_session.get("/v1/me").json()["user"] == "{reference_server.USER}"

        def test_bob(barapi_session_factory):
            session = barapi_session_factory(user="{reference_server.OTHER_USER}")
            assert session.get("/v1/me").json()["user"] == "{reference_server.OTHER_USER}"
        """
    )

    ran = at_a_terminal(
        pytester,
        "-n",
        "2",
        "--barapi-timeout=60",
        answer="unlock",
        prompt=KEYRING_PROMPT,
        together=2,
        read=b"Keyring read.",
    )

    assert ran.prompts == 2
    assert "2 passed" in ran.output
    assert "barapi: password from the keyring" in ran.output
    assert ran.exit_code == pytest.ExitCode.OK, ran.output
    assert ran.echoes
    assert ran.left_running == []
    assert barapi_server.token_request_count == 2


@pytest.mark.parametrize("workers", WORKERS)
@pytest.mark.parametrize("ending", ENDINGS)
def test_a_run_ended_while_the_keyring_prompts_is_interrupted_and_gives_the_terminal_back(
    pytester: pytest.Pytester,
    barapi_server: ReferenceServer,
    at_a_machine: Path,
    monkeypatch: pytest.MonkeyPatch,
    ending: str,
    workers: tuple[str, ...],
) -> None:
    # A keyring read waiting on the terminal is ended as barapi's own prompt is.
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "prompting_keyring.PromptingKeyring")

    ran = at_a_terminal(
        pytester,
        "--barapi-timeout=60",  # the run ends long before it is up
        *workers,
        at_the_prompt=ending,
        output_to_a_file=True,
        prompt=KEYRING_PROMPT,
    )

    assert ran.prompts >= 1
    assert ran.exit_code == pytest.ExitCode.INTERRUPTED, ran.output
    assert "!!! KeyboardInterrupt !!!" in ran.output  # pytest's usual interrupted summary
    assert "Traceback" not in ran.output
    assert "INTERNALERROR" not in ran.output
    assert ran.left_running == []
    assert ran.echoes is (None if ending == "closed" else True)
    assert barapi_server.token_request_count == 0


@pytest.mark.parametrize(
    ("worker", "interrupted"),
    [("waiting", True), ("of-another-process-group", False), ("done-waiting", False)],
)
def test_a_sigterm_passes_ctrl_c_on_to_each_local_worker_whose_keyring_read_is_on(
    worker: str, interrupted: bool
) -> None:
    # What the [sigterm-xdist] runs above rely on to end at once: Ctrl-C at a terminal reaches
    # every process of the run, `kill` only the controller. The controller passes Ctrl-C on
    # to a worker whose keyring read is on, if that worker is of its process group: a process
    # of another group (what a remote worker's process id may name here) is left alone.
    stand_in = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, time; signal.signal(signal.SIGINT, signal.SIG_DFL); "
            "print('waiting', flush=True); time.sleep(120)",
        ],
        stdout=subprocess.PIPE,
        start_new_session=worker == "of-another-process-group",
    )
    try:
        assert stand_in.stdout is not None
        assert stand_in.stdout.readline() == b"waiting\n"
        terminal = PromptTerminal()
        terminal.begin_wait()  # the controller's own wait (it asks for its workers)
        terminal.waiting_elsewhere("gw0", True, stand_in.pid)
        if worker == "done-waiting":
            terminal.waiting_elsewhere("gw0", False)

        with pytest.raises(KeyboardInterrupt):
            terminal._ending(signal.SIGTERM, None)  # the handler, as SIGTERM runs it

        # A SIGINT sent above is pending before this SIGTERM, and Linux delivers the lower
        # signal first: the stand-in dies of whichever came first.
        stand_in.terminate()
        ended_by = -stand_in.wait(timeout=60)
        assert ended_by == (signal.SIGINT if interrupted else signal.SIGTERM)
    finally:
        stand_in.kill()
        stand_in.wait()


@pytest.mark.parametrize("workers", WORKERS)
@pytest.mark.parametrize("ending", ["sigterm", "closed"])
def test_with_stdin_not_the_terminal_a_keyring_prompt_ends_the_same(
    pytester: pytest.Pytester,
    barapi_server: ReferenceServer,
    at_a_machine: Path,
    monkeypatch: pytest.MonkeyPatch,
    ending: str,
    workers: tuple[str, ...],
) -> None:
    # pytest < /dev/null at a terminal: barapi asks nothing, but the keyring's own prompt
    # still shows on the terminal, and a run ended there ends as Ctrl-C does.
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "prompting_keyring.PromptingKeyring")

    ran = at_a_terminal(
        pytester,
        "--barapi-timeout=60",  # the run ends long before it is up
        *workers,
        at_the_prompt=ending,
        output_to_a_file=True,
        prompt=KEYRING_PROMPT,
        stdin=subprocess.DEVNULL,
    )

    assert ran.prompts >= 1
    assert ran.exit_code == pytest.ExitCode.INTERRUPTED, ran.output
    assert "!!! KeyboardInterrupt !!!" in ran.output
    assert "Traceback" not in ran.output
    assert "INTERNALERROR" not in ran.output
    assert ran.left_running == []
    assert ran.echoes is (None if ending == "closed" else True)
    assert barapi_server.token_request_count == 0


# Nothing set for barapi: a test gives barapi_session_factory a user and no password.
FACTORY_WITHOUT_A_PASSWORD = """
def test_bob(barapi_session_factory):
    barapi_session_factory(user="bob@example.test", client_id="fake-client-bob")
"""


@pytest.mark.parametrize("workers", WORKERS)
@pytest.mark.parametrize("ending", ENDINGS)
def test_a_prompt_for_a_factorys_password_ends_the_same_with_nothing_set(
    pytester: pytest.Pytester,
    at_a_machine: Path,
    monkeypatch: pytest.MonkeyPatch,
    ending: str,
    workers: tuple[str, ...],
) -> None:
    """Under xdist the controller's terminal prompts for a worker in any run, configured or
    not: SIGTERM and a closed terminal end it as Ctrl-C does there too."""
    unset_barapi_env(monkeypatch)
    pytester.makepyfile(test_suite=FACTORY_WITHOUT_A_PASSWORD)

    ran = at_a_terminal(pytester, *workers, at_the_prompt=ending, output_to_a_file=True)

    assert ran.prompts == 1
    assert ran.exit_code == pytest.ExitCode.INTERRUPTED, ran.output
    assert "Traceback" not in ran.output
    assert ran.left_running == []
    assert ran.echoes is (None if ending == "closed" else True)


def test_signals_taken_over_are_given_back_only_if_still_taken() -> None:
    """At the end of a run the signals go back to what they were, but one that a handler of
    someone else's took since stays with it."""
    from pytest_barapi.terminal import PromptTerminal

    def theirs(signum: int, frame: object) -> None:
        pass

    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGHUP)
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        terminal = PromptTerminal()
        assert terminal.catch_signals()
        signal.signal(signal.SIGHUP, theirs)

        terminal.release_signals()

        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
        assert signal.getsignal(signal.SIGHUP) is theirs
    finally:
        signal.signal(signal.SIGTERM, before[0])
        signal.signal(signal.SIGHUP, before[1])


def test_a_terminal_closed_under_a_wait_ends_the_run_whenever_its_signal_is_handled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The keyring's thread may see the wait end (its terminal gone) before the main thread
    handles the SIGHUP: at every moment in between, the handler must find the wait still on,
    or the terminal noted closed under it; with neither, SIGHUP's default kills the run with
    no summary."""
    from pytest_barapi import terminal as terminal_module

    ends_the_run: list[bool] = []  # what a SIGHUP handled just after each change would do

    class Watched(terminal_module.PromptTerminal):
        @property  # type: ignore[override]
        def _prompts_up(self) -> int:
            return int(self.__dict__.get("up", 0))

        @_prompts_up.setter
        def _prompts_up(self, up: int) -> None:
            self.__dict__["up"] = up
            closed = self.__dict__.get("_closed_under_a_prompt", False)
            ends_the_run.append(bool(up or closed))

    # A wait begun at a terminal that is gone once it ends (the window closed).
    monkeypatch.setattr(terminal_module, "_terminal_state", lambda: (os.open(os.devnull, 0), []))
    monkeypatch.setattr(terminal_module, "has_a_terminal", lambda: False)
    terminal = Watched()
    ends_the_run.clear()  # the count set to 0 as it is made

    terminal.end_wait(terminal.begin_wait())

    assert ends_the_run == [True, True]
