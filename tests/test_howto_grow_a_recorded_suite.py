"""How a recorded suite grows: add a test, record only it, replay everything offline.

A user adds a ``@pytest.mark.vcr`` test to a suite whose cassettes are committed, and records
it with ``--record-mode=once`` and credentials set. The new test's calls need a token barapi
accepts, so the run gets one live; the token cassette and the old API cassettes stay as they
are, byte for byte, and the whole suite then replays offline. Counts are taken at the server.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pytest_httpserver import HTTPServer

from tests.conftest import CASSETTE, go_offline
from tests.reference_server import ReferenceServer

ADDED_LATER = """
import pytest

@pytest.mark.vcr
def test_me_twice(barapi_session):
    for _ in range(2):
        assert barapi_session.get("/v1/me").json()["user"] == "alice@example.test"
"""


def cassettes(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted((root / "cassettes").rglob("*"))
        if path.is_file()
    }


def statuses(cassette: bytes) -> list[int]:
    return [i["response"]["status"]["code"] for i in yaml.safe_load(cassette)["interactions"]]


def test_a_test_added_later_is_recorded_with_a_working_token_and_all_replay_offline(
    user_suite: pytest.Pytester,
    barapi_server: ReferenceServer,
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Step 1, with credentials: the token exchange and test_me are recorded.
    user_suite.runpytest("--record-mode=once").assert_outcomes(passed=2)
    assert (barapi_server.token_request_count, barapi_server.api_requests) == (1, 1)
    recorded = cassettes(user_suite.path)
    assert sorted(recorded) == [CASSETTE, "cassettes/test_api/test_me.yaml"]

    # Step 2, with credentials: a test is added and recorded; the rest replays.
    user_suite.makepyfile(test_added=ADDED_LATER)
    user_suite.runpytest("--record-mode=once").assert_outcomes(passed=3)
    # One live token for the new calls, and only the new test's two calls reached barapi.
    assert (barapi_server.token_request_count, barapi_server.api_requests) == (2, 3)
    grown = cassettes(user_suite.path)
    added = grown.pop("cassettes/test_added/test_me_twice.yaml")
    assert statuses(added) == [200, 200]  # not the 401 a placeholder token would get
    assert grown == recorded  # the token cassette and test_me's: not a byte changed
    assert b"placeholder-access-token" in added  # nor a real token written

    # In CI: no credentials, no network: all of it replays.
    go_offline(monkeypatch, httpserver)
    result = user_suite.runpytest("--record-mode=none", "--block-network")
    result.assert_outcomes(passed=3)
    assert httpserver.log == []


def test_new_episodes_records_the_new_calls_of_an_old_test_with_a_working_token(
    user_suite: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    user_suite.runpytest("--record-mode=once").assert_outcomes(passed=2)
    user_suite.makepyfile(
        test_api="""
        import pytest

        @pytest.mark.vcr
        def test_me(barapi_session):
            assert barapi_session.get("/v1/me").status_code == 200
            assert barapi_session.get("/v1/me?verbose=1").status_code == 200
        """
    )

    user_suite.runpytest("--record-mode=new_episodes").assert_outcomes(passed=1)

    assert (barapi_server.token_request_count, barapi_server.api_requests) == (2, 2)
    api_cassette = (user_suite.path / "cassettes/test_api/test_me.yaml").read_bytes()
    assert statuses(api_cassette) == [200, 200]


def test_without_credentials_a_once_run_replays_as_before(
    user_suite: pytest.Pytester, barapi_server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_suite.runpytest("--record-mode=once").assert_outcomes(passed=2)
    before = cassettes(user_suite.path)
    monkeypatch.delenv("BARAPI_PASSWORD")
    monkeypatch.delenv("BARAPI_CLIENT_SECRET")

    user_suite.runpytest("--record-mode=once").assert_outcomes(passed=2)

    # Replayed: no token request, and test_me's call came from its cassette.
    assert (barapi_server.token_request_count, barapi_server.api_requests) == (1, 1)
    assert cassettes(user_suite.path) == before
