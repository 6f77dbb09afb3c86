"""Fixtures for testing the plugin the way users run it: real pytest runs, a real server."""

from __future__ import annotations

import http.client
import os
from collections.abc import Iterator

import keyring  # noqa: F401 (imported early on purpose, see below)
import pytest
import vcr  # noqa: F401 (imported early on purpose, see below)
from pytest_httpserver import HTTPServer

# Imported here, before any pytester run: an in-process run forgets the modules it imported,
# and the plugin imports these (and vcrpy) lazily, so each run would get fresh copies whose
# classes do not match the ones other modules kept (requests' cookie jars fail exactly so).
import pytest_barapi.broker
import pytest_barapi.exchange
import pytest_barapi.exits
import pytest_barapi.keyring_and_prompt
import pytest_barapi.session
import pytest_barapi.terminal
import pytest_barapi.token_cassette  # noqa: F401
from pytest_barapi import clock
from tests import reference_server
from tests.authlib_server import AuthlibServer
from tests.reference_server import ReferenceServer

# The suite runs on every core (pytest-xdist, ``-n auto`` in addopts). A long test that starts
# last ends the run late, so these start first and the short ones fill in around them.
STARTS_FIRST = ("test_howto_run_the_benchmarks.py",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.path.name not in STARTS_FIRST)


@pytest.fixture(autouse=True)
def _no_barapi_env_from_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own BARAPI_* variables must not change what the tests see."""
    unset_barapi_env(monkeypatch)


# Plugins installed in the developer's environment that the users' suites run here do not
# need, each paid again by every pytester subprocess and xdist worker: Hypothesis' plugin
# imports all of Hypothesis when a run ends (its terminal summary), a sixth of a plain run's
# instructions; pytest-httpserver's imports werkzeug (the servers run in the suite's process,
# never in a user's run); pytest-json-report and the pytest-metadata it needs serve the two leak
# rows about them. Together a fourth of a plain run's CPU. Blocking an uninstalled plugin does
# nothing.
NOT_IN_USER_RUNS = ("hypothesispytest", "pytest_httpserver", "pytest_jsonreport", "metadata")


def user_run_addopts(*needed: str) -> str:
    """PYTEST_ADDOPTS of the users' runs: every plugin of ``NOT_IN_USER_RUNS`` blocked but
    those ``needed``."""
    return " ".join(f"-p no:{name}" for name in NOT_IN_USER_RUNS if name not in needed)


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """pytest's own ``pytester``, whose runs load only the plugins the tests are about."""
    # Set after pytester's set-up, which clears PYTEST_ADDOPTS; read by in-process runs,
    # subprocess runs and their xdist workers alike.
    monkeypatch.setenv("PYTEST_ADDOPTS", user_run_addopts())
    return pytester


@pytest.fixture(autouse=True)
def _real_time() -> Iterator[None]:
    """Each test starts on the real time: an in-process run of a user's suite shares this
    process's clock, and a test of it may have moved it forward (``clock.advance``). The
    pauses between the tries of a request move that clock instead of sleeping: no test waits
    for a backoff (a user's suite run in a subprocess gets the same from its conftest)."""
    clock.reset()
    clock.skip_pauses()
    yield
    clock.reset()


def unset_barapi_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove every BARAPI_* variable, as in a CI job that has no barapi credentials."""
    for name in list(os.environ):
        if name.startswith("BARAPI_"):
            monkeypatch.delenv(name)


@pytest.fixture
def httpserver(httpserver: HTTPServer) -> Iterator[HTTPServer]:
    """pytest-httpserver's one server of the session, settled at the end of each test.

    It answers one request at a time, and logs each once its answer is made: a request a test
    gave up on (a timeout, a run it stopped) may still be in its hands when the test ends, and
    would be logged into the next test's log, or answered by the next test's handlers. So the
    test's end waits until the server has answered every request that reached it by then.
    """
    yield httpserver
    settle(httpserver)


SETTLED = "/tests/settled"


def settle(server: HTTPServer) -> None:
    """Return once ``server`` has answered the requests it had: it takes connections in the
    order they came, so the answer to one more comes after theirs. Then clear it."""
    server.expect_oneshot_request(SETTLED).respond_with_data("settled")
    # http.client, not requests: no proxy a test set in the environment (and has not put back
    # yet) on the way.
    connection = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        connection.request("GET", SETTLED)
        connection.getresponse().read()  # whatever it says: that it answered is the point
    finally:
        connection.close()
    server.clear()


@pytest.fixture
def barapi_server(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> ReferenceServer:
    """The reference barapi on loopback, with BARAPI_* pointing a user's run at it."""
    server = ReferenceServer(httpserver)
    point_barapi_at(server.url, monkeypatch)
    return server


@pytest.fixture
def authlib_server(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> AuthlibServer:
    """Authlib's reading of barapi on loopback, with BARAPI_* pointing a user's run at it.

    Same credentials, counters and knobs as ``barapi_server``; its token endpoint wants the
    client in HTTP Basic unless ``client_auth_methods`` says otherwise.
    """
    server = AuthlibServer(httpserver)
    point_barapi_at(server.url, monkeypatch)
    return server


@pytest.fixture
def token_endpoint(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> HTTPServer:
    """A bare loopback server for answers no real OAuth server gives (HTML, 502, garbage).

    BARAPI_* point at it with the reference credentials; the test says what it answers.
    """
    point_barapi_at(httpserver.url_for("").rstrip("/"), monkeypatch)
    return httpserver


def point_barapi_at(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Set BARAPI_* as a user's CI would, with the reference server's fake credentials."""
    monkeypatch.setenv("BARAPI_URL", url)
    monkeypatch.setenv("BARAPI_USER", reference_server.USER)
    monkeypatch.setenv("BARAPI_PASSWORD", reference_server.PASSWORD)
    monkeypatch.setenv("BARAPI_CLIENT_ID", reference_server.CLIENT_ID)
    monkeypatch.setenv("BARAPI_CLIENT_SECRET", reference_server.CLIENT_SECRET)


CASSETTE = "cassettes/barapi_token.yaml"


@pytest.fixture
def user_suite(pytester: pytest.Pytester, barapi_server: ReferenceServer) -> pytest.Pytester:
    """A user's suite: non-secret settings in pytest.ini, credentials only in the environment."""
    pytester.makeini(
        f"""
        [pytest]
        barapi_url = {barapi_server.url}
        barapi_cassette = {CASSETTE}
        """
    )
    pytester.makepyfile(
        test_api="""
        import pytest

        def test_token(barapi_token):
            assert barapi_token.token_type == "Bearer"

        @pytest.mark.vcr
        def test_me(barapi_session):
            response = barapi_session.get("/v1/me")
            assert response.status_code == 200
            assert response.json()["user"] == "alice@example.test"
        """
    )
    return pytester


def go_offline(monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer) -> None:
    """No credentials (nor URL) in the environment, and a barapi that answers nothing."""
    unset_barapi_env(monkeypatch)
    httpserver.clear()
