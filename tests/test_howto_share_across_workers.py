"""Under pytest-xdist, the workers of a run share one exchange per identity, local or remote.

The xdist controller keeps each identity's outcome in memory and hands it to its workers over
execnet: ``-n 4``, ``--tx popen//via=…`` and ``--tx socket=…`` (which stand in for ``ssh=``)
alike. Nothing is written to disk, on any machine.
"""

from __future__ import annotations

import contextlib
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from pytest_barapi import clock
from pytest_barapi.identity import Identity
from pytest_barapi.keyring_and_prompt import SecretSources
from pytest_barapi.known_secrets import KnownSecrets
from pytest_barapi.outcome import Failure, Outcome
from pytest_barapi.outcome_board import CLOSED, OutcomeBoard
from pytest_barapi.secrets import Secret
from pytest_barapi.sharing import SharedOutcomes
from pytest_barapi.token import BarapiToken
from tests import reference_server
from tests.conftest import go_offline
from tests.reference_server import ReferenceServer
from tests.secret_forms import forms

# Each test notes which worker ran it, so we know every worker needed the token.
TESTS_ON_EVERY_WORKER = """
    import os
    from pathlib import Path

    import pytest

    @pytest.mark.parametrize("n", range(20))
    def test_me(barapi_session, n):
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        (Path(__file__).parent / "workers" / worker).touch()
        assert barapi_session.get("/v1/me").json()["user"] == "alice@example.test"
    """
# A proxy gateway: workers started through it (popen//via=proxy) are what the controller
# sees of workers on another machine.
PROXY = ["--px", "popen//id=proxy//execmodel=thread", "--dist", "load"]
# execnet's socket server, through runpy: run as a script, its directory would come first on
# sys.path, and its socketserver.py would hide the standard library's.
SOCKET_SERVER = (
    "import runpy, sys; import execnet.script.socketserver as server; "
    "sys.argv = ['socketserver', '127.0.0.1:0']; "
    "runpy.run_path(server.__file__, run_name='__main__')"
)
# What xdist itself copies to a worker that is not local (pytest, for it to run with).
RSYNCED_BY_XDIST = {"pytest", "_pytest"}


@pytest.fixture
def socket_worker(tmp_path: Path, barapi_server: ReferenceServer) -> Iterator[str]:
    """An execnet socket server on 127.0.0.1 that hosts a ``--tx socket=…`` worker.

    It stands for another machine: its worker reads its own BARAPI_* variables (given here as
    that machine's environment), and it is stopped when the test ends.
    """
    host = tmp_path / "host"
    host.mkdir()
    server = subprocess.Popen(
        [sys.executable, "-u", "-c", SOCKET_SERVER],
        cwd=host,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        first_line = server.stdout.readline()  # "… Entering Accept loop ('127.0.0.1', PORT)"
        listening = re.search(r"'127\.0\.0\.1', (\d+)\)$", first_line.strip())
        assert listening, f"the socket server did not start: {first_line!r}"
        yield f"socket=127.0.0.1:{listening.group(1)}"
    finally:
        server.kill()
        server.wait(10)
        assert server.stdout is not None
        server.stdout.close()


def left_behind(root: Path, before: set[Path]) -> list[str]:
    """Each file a run added under ``root`` (the project and the basetemp of its runs), and
    any ``barapi-*`` directory; not what the tests note themselves, nor pytest's own files."""
    own = {"workers", "__pycache__", ".pytest_cache", "stdout", "stderr", *RSYNCED_BY_XDIST}
    return sorted(
        path.relative_to(root).as_posix()
        for path in set(root.rglob("*")) - before
        if not own & set(path.relative_to(root).parts)
        and (path.is_file() or path.name.startswith("barapi"))
    )


WORKERS = {
    "-n 2 -p no:tmpdir": (["-n", "2", "-p", "no:tmpdir"], 2),
    "-n 4": (["-n", "4"], 4),
    "2 remote workers (popen via a proxy)": ([*PROXY, "--tx", "2*popen//via=proxy"], 2),
    "4 remote workers (popen via a proxy)": ([*PROXY, "--tx", "4*popen//via=proxy"], 4),
}


@pytest.mark.parametrize("workers", WORKERS.values(), ids=WORKERS.keys())
def test_every_worker_uses_the_one_exchange(
    pytester: pytest.Pytester, barapi_server: ReferenceServer, workers: tuple[list[str], int]
) -> None:
    args, count = workers
    pytester.makepyfile(TESTS_ON_EVERY_WORKER)
    pytester.mkdir("workers")
    before = set(pytester.path.rglob("*"))

    result = pytester.runpytest_subprocess(*args, timeout=120)

    result.assert_outcomes(passed=20)
    assert len(list(pytester.path.joinpath("workers").iterdir())) == count
    assert barapi_server.token_request_count == 1
    assert left_behind(pytester.path, before) == []


def test_local_and_remote_workers_share_the_one_exchange(
    pytester: pytest.Pytester, barapi_server: ReferenceServer, socket_worker: str
) -> None:
    pytester.makepyfile(TESTS_ON_EVERY_WORKER)
    pytester.mkdir("workers")
    before = set(pytester.path.rglob("*"))

    # A local worker, one through a proxy, and one on the socket server, working here.
    result = pytester.runpytest_subprocess(
        *PROXY,
        "--tx",
        "popen",
        "--tx",
        "popen//via=proxy",
        "--tx",
        f"{socket_worker}//chdir={pytester.path}",
        timeout=120,
    )

    result.assert_outcomes(passed=20)
    assert sorted(p.name for p in pytester.path.joinpath("workers").iterdir()) == [
        "gw0",
        "gw1",
        "gw2",
    ]
    assert barapi_server.token_request_count == 1
    assert left_behind(pytester.path, before) == []


def test_a_failed_exchange_is_shared_with_remote_workers_too(
    pytester: pytest.Pytester, barapi_server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BARAPI_PASSWORD", "wrong-password-Wp1")
    pytester.makepyfile(TESTS_ON_EVERY_WORKER)
    result = pytester.runpytest_subprocess(
        *PROXY, "--tx", "popen", "--tx", "2*popen//via=proxy", timeout=120
    )
    result.assert_outcomes(errors=20)
    assert barapi_server.token_request_count == 1
    message = (
        f"barapi: the token endpoint {barapi_server.url}/oauth/token refused the grant: "
        "invalid_grant (Invalid credentials given.), HTTP 400; check --barapi-user / "
        "BARAPI_USER, --barapi-password / "
        "BARAPI_PASSWORD"
    )
    # Each test's error report is that one line, from whichever worker ran it.
    assert result.outlines.count(message) == 20
    assert "Traceback" not in result.stdout.str()
    assert "wrong-password-Wp1" not in result.stdout.str()


def test_one_renewal_per_expiry_even_if_the_access_token_stays_the_same(
    pytester: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    # Workers go by which renewal they hold, not by the token: a worker that compared access
    # tokens would take this one for not renewed yet, and renew again with a spent refresh
    # token (refused, then a password grant).
    barapi_server.same_access_token_on_refresh = True
    pytester.mkdir("ready")
    pytester.makepyfile(
        """
        import os
        import time
        from pathlib import Path

        from pytest_barapi import clock

        def all_workers_hold_the_token():
            ready = Path(__file__).parent / "ready"
            (ready / os.environ["PYTEST_XDIST_WORKER"]).touch()
            give_up = time.monotonic() + 30
            while len(list(ready.iterdir())) < 4 and time.monotonic() < give_up:
                time.sleep(0.02)

        def test_outlive_the_token(barapi_session):
            assert barapi_session.get("/v1/me").status_code == 200
            # None moves on before all hold the first token, however slowly they came up:
            # then the hour passes on every worker's clock, one expiry for all.
            all_workers_hold_the_token()
            clock.advance(3600)
            assert barapi_session.get("/v1/me").status_code == 200
        """
    )
    # --dist each: every worker runs the test, so each finds its token expired.
    result = pytester.runpytest_subprocess("-n", "4", "--dist", "each", timeout=120)
    result.assert_outcomes(passed=4)
    assert barapi_server.grant_types() == ["password", "refresh_token"]
    assert barapi_server.api_requests == 8


def test_a_worker_killed_in_its_exchange_hands_it_on(
    pytester: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    # The first worker to start the exchange dies in it (kill -9), while the others wait.
    pytester.makeconftest(
        """
        import os
        import signal
        import time
        from pathlib import Path

        import pytest_barapi.exchange

        real_post_grant = pytest_barapi.exchange.post_grant

        def post_grant_or_die(*args, **kwargs):
            try:
                os.close(os.open(Path(__file__).parent / "died", os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                return real_post_grant(*args, **kwargs)
            time.sleep(0.5)
            os.kill(os.getpid(), signal.SIGKILL)

        pytest_barapi.exchange.post_grant = post_grant_or_die
        """
    )
    pytester.makepyfile(TESTS_ON_EVERY_WORKER)
    pytester.mkdir("workers")

    result = pytester.runpytest_subprocess("-n", "3", timeout=120)

    # The test the killed worker was running fails; another worker made the exchange.
    result.assert_outcomes(passed=19, failed=1)
    result.stdout.fnmatch_lines(["*worker 'gw?' crashed while running 'test_*'*"])
    assert barapi_server.token_request_count == 1


def test_a_worker_stalled_in_its_exchange_is_given_up_on_and_the_run_goes_on(
    pytester: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    # The worker that starts the exchange stalls before its grant (a debugger, a frozen
    # machine) until the other worker's test has failed. A worker waits for another's exchange
    # as long as its grants may take (two grants, each up to 2 x the timeout), and then 10 s
    # more: cut here to one grant and no slack, so that the wait is 2 x --barapi-timeout=1.
    pytester.makeconftest(
        """
        import os
        import time
        from pathlib import Path

        import pytest_barapi.exchange
        import pytest_barapi.sharing

        pytest_barapi.sharing.GRANTS_PER_TURN = 1
        pytest_barapi.sharing.SLACK = 0.0
        here = Path(__file__).parent
        real_post_grant = pytest_barapi.exchange.post_grant

        def post_grant_stalled(*args, **kwargs):
            try:
                os.close(os.open(here / "stalled", os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                return real_post_grant(*args, **kwargs)
            give_up = time.monotonic() + 60
            while not (here / "gave_up").exists() and time.monotonic() < give_up:
                time.sleep(0.02)
            return real_post_grant(*args, **kwargs)

        pytest_barapi.exchange.post_grant = post_grant_stalled

        def pytest_runtest_logreport(report):
            if report.failed:
                (here / "gave_up").touch()
        """
    )
    pytester.makepyfile(
        """
        def test_me(barapi_session):
            assert barapi_session.get("/v1/me").status_code == 200
        """
    )

    # --dist each: both workers run the test, so the one without the turn waits.
    result = pytester.runpytest_subprocess(
        "-n", "2", "--dist", "each", "--barapi-timeout=1", timeout=120
    )

    # The stalled worker's test passes once it goes on; the other's fails in one line.
    result.assert_outcomes(passed=1, errors=1)
    assert (
        result.outlines.count(
            "barapi: gave up after 2s waiting for another pytest-xdist worker's token exchange; it "
            f"seems stuck. Check that the token server answers at {barapi_server.token_url}, or "
            "raise --barapi-timeout / BARAPI_TIMEOUT"
        )
        == 1
    )
    assert "Traceback" not in result.stdout.str()
    assert barapi_server.token_request_count == 1


def test_workers_stay_lazy(pytester: pytest.Pytester, barapi_server: ReferenceServer) -> None:
    pytester.makepyfile(
        """
        import sys

        def test_needs_barapi(barapi_session):
            pass

        def test_plain():
            # On a worker, where no test has needed a token: nothing was asked of the board.
            assert "pytest_barapi.sharing" not in sys.modules
            assert "pytest_barapi.outcome_board" not in sys.modules
        """
    )
    result = pytester.runpytest_subprocess("-n", "2", "-m", "not barapi")
    result.assert_outcomes(passed=1)
    assert barapi_server.token_request_count == 0


@pytest.mark.parametrize(
    "args", [["-p", "no:xdist"], ["-n", "0"], []], ids=["no-xdist", "-n 0", "no-workers"]
)
def test_without_xdist_workers_the_token_stays_in_process(
    pytester: pytest.Pytester, barapi_server: ReferenceServer, args: list[str]
) -> None:
    pytester.makepyfile(
        """
        from pytest_barapi.plugin import run_key

        def test_me(barapi_session, pytestconfig):
            assert barapi_session.get("/v1/me").status_code == 200
            assert pytestconfig.stash[run_key].broker().sharing is None
        """
    )
    result = pytester.runpytest_subprocess("-W", "error::pytest.PytestWarning", *args)
    result.assert_outcomes(passed=1)
    assert "hook" not in result.stdout.str() + result.stderr.str()
    assert barapi_server.token_request_count == 1


def test_remote_workers_replay_but_do_not_record(
    user_suite: pytest.Pytester,
    barapi_server: ReferenceServer,
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A cassette recorded on a remote worker would stay on its machine: a run with remote
    workers refuses to record, even on its local ones, and says how to record instead.
    Replay works under them."""
    remote_workers = [*PROXY, "--tx", "popen", "--tx", "popen//via=proxy"]
    result = user_suite.runpytest_subprocess(*remote_workers, "--record-mode=once", timeout=120)
    result.assert_outcomes(passed=0, errors=2)
    message = (
        "barapi: not recording the cassette cassettes/barapi_token.yaml (--record-mode=once): "
        "this run has pytest-xdist workers that may run on another machine or in another "
        "directory (--tx ssh=, socket=, via= or chdir=), where the cassette would stay. "
        "Record it without them (-n 2, or no xdist), then replay anywhere; no request sent"
    )
    assert result.outlines.count(message) == 2
    assert barapi_server.token_request_count == 0
    assert not (user_suite.path / "cassettes").exists()

    user_suite.runpytest("--record-mode=once").assert_outcomes(passed=2)
    go_offline(monkeypatch, httpserver)
    result = user_suite.runpytest_subprocess(*remote_workers, "--record-mode=none", timeout=120)
    result.assert_outcomes(passed=2)
    assert httpserver.log == []


# The board and the workers' side of it, in one process: a Line stands for the execnet channel
# between a worker and the controller.


class Line:
    """A worker's end of an in-memory line to the board."""

    TimeoutError = TimeoutError
    RemoteError = RuntimeError

    def __init__(self, board: OutcomeBoard) -> None:
        self.board: OutcomeBoard | None = board
        self.inbox: queue.Queue[Any] = queue.Queue()
        self.asked = threading.Event()  # the board has heard this worker ask
        self.controller_end = _ControllerEnd(self)

    def send(self, message: Any) -> None:
        if self.board is None:
            raise OSError("cannot send to <Channel closed>")
        self.board.handle(self.controller_end, message)
        self.asked.set()

    def receive(self, timeout: float | None = None) -> Any:
        try:
            message = self.inbox.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError from None
        if message is EOFError:
            raise EOFError
        return message

    def cut(self) -> None:
        """The worker or the controller is gone: the board hears the channel close, and the
        worker's end reads the end of it."""
        board, self.board = self.board, None
        if board is not None:
            board.handle(self.controller_end, CLOSED)
        self.inbox.put(EOFError)


class _ControllerEnd:
    def __init__(self, line: Line) -> None:
        self.line = line

    def send(self, message: Any) -> None:
        if self.line.board is None:
            raise OSError("cannot send to <Channel closed>")
        self.line.inbox.put(message)


IDENTITY = Identity(
    reference_server.USER,
    Secret(reference_server.PASSWORD),
    reference_server.CLIENT_ID,
    Secret(reference_server.CLIENT_SECRET),
)


# barapi's own token endpoint, with the default settings.
BARAPI_TOKEN_URL = "https://barapi.cloud/oauth/token"


def worker(
    board: OutcomeBoard, wait: float = 10, token_url: str = BARAPI_TOKEN_URL
) -> tuple[SharedOutcomes, Line]:
    line = Line(board)
    shared = SharedOutcomes(line, board.run_key, wait, token_url=token_url)  # type: ignore[arg-type]
    return shared, line


def in_thread(
    shared: SharedOutcomes, work: Callable[[], Outcome]
) -> tuple[threading.Thread, list[Any]]:
    """``shared.decide`` in a thread of its own; the list gets its outcome (or exception)."""
    result: list[Any] = []

    def decide() -> None:
        try:
            result.append(shared.decide(IDENTITY, work))
        except Exception as error:
            result.append(error)

    thread = threading.Thread(target=decide)
    thread.start()
    return thread, result


def token(name: str) -> BarapiToken:
    return BarapiToken(f"fake-access-{name}", "Bearer", 3600, refresh_token=f"fake-refresh-{name}")


def access_tokens(outcomes: list[Any]) -> list[str]:
    return [outcome.access_token for outcome in outcomes]


class Killed(Exception):
    """Stands for kill -9: the worker says nothing more (its line is cut first)."""


def no_second_exchange() -> Outcome:
    raise AssertionError("a second exchange must not happen")


@pytest.mark.parametrize(
    ("token_url", "check"),
    [
        (BARAPI_TOKEN_URL, "Check that barapi answers at https://barapi.cloud/oauth/token"),
        (
            "http://127.0.0.1:8000/o/token/",
            "Check that the token server answers at http://127.0.0.1:8000/o/token/",
        ),
    ],
    ids=["barapi", "another-server"],
)
def test_no_worker_waits_forever_for_another(token_url: str, check: str) -> None:
    """The failure names the endpoint the stuck exchange posts to, as every grant's does."""
    board = OutcomeBoard()
    first, _ = worker(board)
    second, _ = worker(board, wait=0.2, token_url=token_url)
    in_exchange, release = threading.Event(), threading.Event()

    def stuck_exchange() -> Outcome:
        in_exchange.set()
        release.wait(10)
        return token("late")

    holder, held = in_thread(first, stuck_exchange)
    try:
        # The first worker has the turn before the second asks: started is not enough, a
        # thread may not have asked the board yet when the second does.
        assert in_exchange.wait(10)
        outcome = second.decide(IDENTITY, no_second_exchange)
    finally:
        release.set()
        holder.join()
    assert outcome == Failure(
        "gave up after 0.2s waiting for another pytest-xdist worker's token exchange; it "
        f"seems stuck. {check}, or raise --barapi-timeout / BARAPI_TIMEOUT"
    )
    # Once the exchange is done, the worker that gave up gets its outcome like the others.
    assert access_tokens(held) == ["fake-access-late"]
    assert access_tokens([second.decide(IDENTITY, no_second_exchange)]) == ["fake-access-late"]


def test_the_turn_passes_over_workers_that_died() -> None:
    board = OutcomeBoard()
    deciding, deciding_line = worker(board)
    dead, dead_line = worker(board)
    alive, alive_line = worker(board)
    in_exchange, killed = threading.Event(), threading.Event()

    def exchange_killed_midway() -> Outcome:
        in_exchange.set()
        killed.wait(10)
        raise Killed

    first, _ = in_thread(deciding, exchange_killed_midway)
    assert in_exchange.wait(10)
    # Two more workers wait in line: the first of them dies waiting.
    second, second_result = in_thread(dead, no_second_exchange)
    assert dead_line.asked.wait(10)
    third, third_result = in_thread(alive, lambda: token("from-the-third"))
    assert alive_line.asked.wait(10)
    dead_line.cut()
    deciding_line.cut()
    killed.set()
    for thread in (first, second, third):
        thread.join(10)
    assert not any(thread.is_alive() for thread in (first, second, third))

    # The next one alive in line made the exchange.
    assert access_tokens(third_result) == ["fake-access-from-the-third"]
    assert second_result == [LOST]


def test_a_worker_that_lost_the_controller_fails_without_a_traceback() -> None:
    shared, line = worker(OutcomeBoard())
    line.cut()
    assert shared.decide(IDENTITY, no_second_exchange) == LOST


LOST = Failure(
    "cannot share the token between pytest-xdist workers: the connection to the controller "
    "is closed"
)


# Each worker holds the token until its controller is gone (or for 30 s at most).
HOLDS_THE_TOKEN = """
    import os
    import time
    from pathlib import Path

    import pytest

    @pytest.mark.parametrize("n", range(2))
    def test_holds_the_token(barapi_token, n):
        controller = os.getppid()
        (Path(__file__).parent / "workers" / os.environ["PYTEST_XDIST_WORKER"]).touch()
        give_up = time.monotonic() + 30
        while os.getppid() == controller and time.monotonic() < give_up:
            time.sleep(0.05)
    """


def test_a_run_ended_by_sigterm_leaves_no_token_on_disk(
    pytester: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    """The outcomes live in the controller's memory: whatever ends the run, no file holds a
    token (the project and its basetemp are searched for every form of each one issued)."""
    pytester.makepyfile(HOLDS_THE_TOKEN)
    workers = pytester.mkdir("workers")
    run = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-n", "2", f"--basetemp={pytester.path / 'basetemp'}"],
        cwd=pytester.path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        give_up = time.monotonic() + 60
        while len(list(workers.iterdir())) < 2:  # both workers hold the token
            assert run.poll() is None, "the run ended before both workers had the token"
            assert time.monotonic() < give_up, "the workers did not get the token in 60 s"
            time.sleep(0.05)
        run.terminate()
        run.wait(30)
    finally:
        run.kill()
        run.wait(10)

    issued = barapi_server.issued_secrets()
    assert barapi_server.token_request_count == 1
    assert issued
    holding = [
        path.relative_to(pytester.path).as_posix()
        for path in pytester.path.rglob("*")
        if path.is_file()
        and any(form.encode() in path.read_bytes() for token in issued for form in forms(token))
    ]
    assert holding == []


def test_a_secret_only_a_worker_knows_reaches_the_controllers_registry() -> None:
    """A factory's password, a keyring answer, a token: the controller prints too (a worker's
    crash, the summary), so its registry learns each, kind and name included."""
    board = OutcomeBoard()
    shared, _ = worker(board)
    on_the_worker = KnownSecrets()
    on_the_worker.add_pair("bob@example.com", Secret("fake-factory-password"), kind="password")
    on_the_worker.forward_to(shared.tell_secrets)  # what the worker knew before
    on_the_worker.add("fake-access-only-here", kind="access_token")  # and what it learns later
    known = board.known_secrets
    assert {"fake-factory-password", "fake-access-only-here"} <= known.values()
    assert ("bob@example.com", "fake-factory-password") in known.pairs()
    assert known.kinds() == {
        "fake-factory-password": "password",
        "fake-access-only-here": "access_token",
    }


# A worker's keyring read and the controller: the read begins once the controller has noted
# it (a backend may prompt on the controller's terminal), and never lasts beyond the timeout.


class Recorded(Line):
    """A line that keeps, in order, what went each way and when the keyring was read."""

    def __init__(self, board: OutcomeBoard, events: list[str]) -> None:
        super().__init__(board)
        self.events = events

    def send(self, message: Any) -> None:
        name, kwargs = message
        self.events.append(f"{name} {kwargs.get('on', '')}".strip())
        super().send(message)

    def receive(self, timeout: float | None = None) -> Any:
        message = super().receive(timeout)
        self.events.append(message[0])
        return message


class Stuck(Recorded):
    """A controller that hears the worker and never answers: its wait on the line costs
    barapi's clock its whole length, and nobody's real time."""

    def send(self, message: Any) -> None:
        name, kwargs = message
        self.events.append(f"{name} {kwargs.get('on', '')}".strip())

    def receive(self, timeout: float | None = None) -> Any:
        clock.advance(timeout or 0)
        raise TimeoutError


@contextlib.contextmanager
def keyring_answering(password: str, events: list[str]) -> Iterator[None]:
    """This process's keyring, answering ``password`` and noting each read in ``events``."""
    import keyring
    from keyring.backend import KeyringBackend

    class Answering(KeyringBackend):
        priority = 1  # type: ignore[assignment]

        def get_password(self, service: str, username: str) -> str:
            events.append("keyring read")
            return password

        def set_password(self, service: str, username: str, password: str) -> None:
            raise NotImplementedError

        def delete_password(self, service: str, username: str) -> None:
            raise NotImplementedError

    before = keyring.get_keyring()
    keyring.set_keyring(Answering())
    try:
        yield
    finally:
        keyring.set_keyring(before)


def a_worker_reading_the_keyring(line: Line) -> SecretSources:
    """A worker's secret sources on a person's machine, over ``line`` to the controller."""
    shared = SharedOutcomes(line, "run-key", 10, token_url=BARAPI_TOKEN_URL)  # type: ignore[arg-type]
    return SecretSources(
        "https://barapi.cloud",
        on_a_machine=True,
        interactive=False,
        timeout=30.0,
        tell_waiting=shared.tell_waiting,
    )


WITHOUT_A_PASSWORD = Identity(
    reference_server.USER, None, reference_server.CLIENT_ID, Secret(reference_server.CLIENT_SECRET)
)


def test_a_workers_keyring_read_begins_once_the_controller_noted_it() -> None:
    events: list[str] = []
    sources = a_worker_reading_the_keyring(Recorded(OutcomeBoard(), events))

    with keyring_answering(reference_server.PASSWORD, events):
        completed = sources.complete(WITHOUT_A_PASSWORD)

    assert completed.password == Secret(reference_server.PASSWORD)
    assert events == ["waiting True", "noted", "keyring read", "waiting False"]


def test_a_workers_keyring_read_lasts_no_longer_than_the_timeout_if_never_noted() -> None:
    # The controller is stuck: the worker waits for it out of the read's own 30 s, not beside
    # them, and a read with no time left does not begin.
    events: list[str] = []
    sources = a_worker_reading_the_keyring(Stuck(OutcomeBoard(), events))
    began = clock.monotonic()

    with keyring_answering(reference_server.PASSWORD, events):
        completed = sources.complete(WITHOUT_A_PASSWORD)

    assert clock.monotonic() - began < 30.5
    assert completed.password is None
    assert sources.keyring_silent_on(completed) == ["password"]
    assert events == ["waiting True", "withdraw", "waiting False"]
