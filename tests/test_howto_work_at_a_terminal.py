"""On your machine: the password from the keyring, or asked for once; never a prompt in CI.

The keyring is a real ``keyring`` with a small file-backed backend that the user project
ships (no system keyring needed); the prompt is answered through a real pseudo-terminal.
"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import sys
import time
from pathlib import Path

import pytest

from tests import reference_server
from tests.reference_server import ReferenceServer

FILE_KEYRING = """
import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend


class FileKeyring(KeyringBackend):
    priority = 1

    def get_password(self, service, username):
        store = Path(os.environ["TEST_KEYRING"])
        with open(str(store) + ".asked", "a") as asked:
            asked.write(f"{service} {username}\\n")
        return json.loads(store.read_text()).get(service, {}).get(username)

    def set_password(self, service, username, password):
        raise NotImplementedError

    def delete_password(self, service, username):
        raise NotImplementedError
"""

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
    pytester.makepyfile(file_keyring=FILE_KEYRING, test_suite=NEEDS_THE_TOKEN)
    return store


def asked(store: Path) -> list[str]:
    log = Path(f"{store}.asked")
    return log.read_text().splitlines() if log.exists() else []


def test_the_password_comes_from_the_keyring_under_the_url_and_user(
    pytester: pytest.Pytester, barapi_server: ReferenceServer, at_a_machine: Path
) -> None:
    at_a_machine.write_text(
        json.dumps({barapi_server.url: {reference_server.USER: reference_server.PASSWORD}})
    )

    result = pytester.runpytest_subprocess()

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


def run_at_a_terminal(pytester: pytest.Pytester, answer: str | None, *args: str) -> tuple[str, int]:
    """Run pytest with a pseudo-terminal as its controlling terminal, answering each password
    prompt with ``answer``; return what the terminal showed and how many prompts it asked."""
    pid, terminal = pty.fork()
    if pid == 0:  # the child: pytest on the terminal, in the user project
        os.chdir(pytester.path)
        os.execv(sys.executable, [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args])
    shown = b""
    prompts = 0
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([terminal], [], [], 1)
            if not ready:
                continue
            try:
                chunk = os.read(terminal, 4096)
            except OSError:  # the child is gone
                break
            if not chunk:
                break
            shown += chunk
            while shown.count(b"barapi password for") > prompts:
                prompts += 1
                os.write(terminal, (answer or "").encode() + b"\n")
    finally:
        hung = time.monotonic() >= deadline
        if hung:
            os.kill(pid, signal.SIGKILL)
        os.close(terminal)
        os.waitpid(pid, 0)
    assert not hung, "the run hung"
    return shown.decode(errors="replace"), prompts


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
