"""How recorded and live tests live in one suite: the placeholder never leaves for barapi.

Once the token exchange is recorded, a run replays its placeholder token, which only the
recorded calls accept. A test added without ``@pytest.mark.vcr`` sends its calls to barapi:
with credentials set, those calls get a live token (one exchange for the run, shared by the
pytest-xdist workers) and the recorded tests keep replaying; without credentials, the test
fails with one line that says what to do. Token and API requests are counted at the server.
"""

from __future__ import annotations

import pytest
import yaml

from tests.conftest import CASSETTE
from tests.reference_server import ReferenceServer

LIVE_TESTS = """
import pytest

@pytest.mark.parametrize("n", range(4))
def test_me_live(barapi_session, n):
    response = barapi_session.get("/v1/me")
    assert response.status_code == 200, response.text
    assert response.json()["user"] == "alice@example.test"
"""


@pytest.fixture
def recorded_suite(user_suite: pytest.Pytester, barapi_server: ReferenceServer) -> pytest.Pytester:
    """The user's suite recorded once (token exchange and test_me), then a live test added."""
    user_suite.runpytest("--record-mode=once").assert_outcomes(passed=2)
    assert (barapi_server.token_request_count, barapi_server.api_requests) == (1, 1)
    user_suite.makepyfile(test_live=LIVE_TESTS)
    return user_suite


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one process", "two workers"])
def test_a_test_without_cassette_gets_a_live_token_and_the_recorded_ones_replay(
    recorded_suite: pytest.Pytester, barapi_server: ReferenceServer, workers: list[str]
) -> None:
    result = recorded_suite.runpytest(*workers)  # pytest-recording's default: --record-mode=none

    result.assert_outcomes(passed=6)
    # One live exchange for the run, under xdist too; test_me replayed: only the 4 live calls
    # reached barapi, each accepted (no 401, no renewal).
    assert barapi_server.grant_types() == ["password", "password"]
    assert barapi_server.api_requests == 1 + 4


def test_a_session_scoped_fixture_is_recorded_with_the_live_token_too(
    recorded_suite: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    """pytest-recording does not record session-scoped fixtures (its issue #76): recorded
    into the cassette of the run (see test_howto_record_session_scoped_fixtures.py), their
    requests get a token barapi accepts, not the replayed placeholder."""
    recorded_suite.makeconftest(
        """
        import pytest

        @pytest.fixture(scope="session")
        def me(barapi_session):
            response = barapi_session.get("/v1/me")
            assert response.status_code == 200, response.text
            return response.json()
        """
    )
    recorded_suite.makepyfile(test_live="def test_me_once(me):\n    assert me['user']\n")

    recorded_suite.runpytest("--record-mode=once").assert_outcomes(passed=3)

    assert barapi_server.grant_types() == ["password", "password"]
    assert barapi_server.api_requests == 1 + 1
    assert (recorded_suite.path / "cassettes/barapi_token.run.yaml").exists()


def test_without_credentials_a_test_without_cassette_says_what_to_do(
    recorded_suite: pytest.Pytester,
    barapi_server: ReferenceServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("BARAPI_PASSWORD")
    monkeypatch.delenv("BARAPI_CLIENT_SECRET")

    result = recorded_suite.runpytest("-p", "no:randomly")

    result.assert_outcomes(passed=2, failed=4)
    message = (
        "barapi: a request that no cassette plays needs a live token, and the token is "
        f"replayed from {CASSETTE}; no request sent: record the test with @pytest.mark.vcr "
        "and pytest --record-mode=once (a request your vcr_config leaves out of cassettes is "
        "never played), or set --barapi-password / BARAPI_PASSWORD, "
        "--barapi-client-secret / BARAPI_CLIENT_SECRET"
    )
    assert result.outlines.count(message) == 4  # one line per test, no traceback
    # The placeholder reached nothing: neither the token endpoint nor the API.
    assert (barapi_server.token_request_count, barapi_server.api_requests) == (1, 1)


def test_a_request_its_cassette_refuses_costs_no_live_token(
    recorded_suite: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    """--record-mode=none and a vcr test never recorded: vcrpy stops the request, and says so."""
    recorded_suite.makepyfile(
        test_live="""
        import pytest

        @pytest.mark.vcr
        def test_me_never_recorded(barapi_session):
            barapi_session.get("/v1/me")
        """
    )

    result = recorded_suite.runpytest()

    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*CannotOverwriteExistingCassetteException*"])
    assert (barapi_server.token_request_count, barapi_server.api_requests) == (1, 1)


def test_a_live_token_that_barapi_rejects_is_renewed_once(
    recorded_suite: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    # Request 1 was test_me's, when recording; request 3 is the second live call.
    barapi_server.before_api_request = {3: barapi_server.revoke_access_tokens}

    recorded_suite.runpytest("-p", "no:randomly").assert_outcomes(passed=6)

    assert barapi_server.grant_types() == ["password", "password", "refresh_token"]
    assert barapi_server.api_requests == 1 + 4 + 1  # the rejected call, sent once more


def test_a_run_that_records_new_cassettes_still_gets_one_live_token(
    recorded_suite: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    """--record-mode=once with credentials: the new cassette and the live test share it."""
    recorded_suite.makepyfile(
        test_new="""
        import pytest

        @pytest.mark.vcr
        def test_me_recorded_now(barapi_session):
            assert barapi_session.get("/v1/me").status_code == 200
        """
    )

    recorded_suite.runpytest("--record-mode=once").assert_outcomes(passed=7)

    assert barapi_server.grant_types() == ["password", "password"]
    assert barapi_server.api_requests == 1 + 4 + 1
    recorded = recorded_suite.path / "cassettes/test_new/test_me_recorded_now.yaml"
    [interaction] = yaml.safe_load(recorded.read_text())["interactions"]
    assert interaction["response"]["status"]["code"] == 200


# A request the user's vcr_config leaves out of every cassette: vcrpy sends it, cassette or not.
LEAVES_LOOPBACK_OUT = """
import pytest

@pytest.fixture(scope="session")
def vcr_config():
    return {"ignore_localhost": True}
"""


def test_a_request_your_vcr_config_leaves_out_is_sent_with_a_live_token(
    user_suite: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    """vcrpy sends what ``ignore_localhost`` (or ``ignore_hosts``, or a before_record_request
    that returns None) leaves out, even from a cassette that plays nothing new: that request
    gets a live token, never the replayed placeholder."""
    user_suite.makeconftest(LEAVES_LOOPBACK_OUT)
    user_suite.runpytest("--record-mode=once").assert_outcomes(passed=2)

    result = user_suite.runpytest()  # --record-mode=none: the token replayed

    result.assert_outcomes(passed=2)
    # test_me's call was never recorded (ignored): sent both times, with a live token the
    # second time (one more password grant), and accepted.
    assert barapi_server.grant_types() == ["password", "password"]
    assert barapi_server.api_requests == 2


def test_without_credentials_a_request_your_vcr_config_leaves_out_is_not_sent(
    user_suite: pytest.Pytester, barapi_server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_suite.makeconftest(LEAVES_LOOPBACK_OUT)
    user_suite.runpytest("--record-mode=once").assert_outcomes(passed=2)
    monkeypatch.delenv("BARAPI_PASSWORD")
    monkeypatch.delenv("BARAPI_CLIENT_SECRET")

    result = user_suite.runpytest()

    result.assert_outcomes(passed=1, failed=1)
    assert (
        result.outlines.count(
            "barapi: a request that no cassette plays needs a live token, and the token is "
            f"replayed from {CASSETTE}; no request sent: record the test with @pytest.mark.vcr "
            "and pytest --record-mode=once (a request your vcr_config leaves out of cassettes is "
            "never played), or set --barapi-password / BARAPI_PASSWORD, "
            "--barapi-client-secret / BARAPI_CLIENT_SECRET"
        )
        == 1
    )
    # The placeholder reached nothing: only the recording run's calls arrived.
    assert (barapi_server.token_request_count, barapi_server.api_requests) == (1, 1)


A_NEW_RECORDED_TEST = """
import pytest

@pytest.mark.vcr
def test_me_again(barapi_session):
    assert barapi_session.get("/v1/me", params={"again": "1"}).status_code == 200
"""


def test_recording_without_credentials_says_to_set_them_not_to_mark_the_test(
    user_suite: pytest.Pytester, barapi_server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under --record-mode=new_episodes, a test marked vcr whose cassette lacks a request
    records it: that needs credentials, as a live request does."""
    user_suite.runpytest("--record-mode=once").assert_outcomes(passed=2)
    user_suite.makepyfile(test_again=A_NEW_RECORDED_TEST)
    monkeypatch.delenv("BARAPI_PASSWORD")
    monkeypatch.delenv("BARAPI_CLIENT_SECRET")

    result = user_suite.runpytest("--record-mode=new_episodes")

    result.assert_outcomes(passed=2, failed=1)
    assert (
        f"barapi: a request that no cassette plays needs a live token, and the token is "
        f"replayed from {CASSETTE}; no request sent: set --barapi-password / BARAPI_PASSWORD, "
        "--barapi-client-secret / BARAPI_CLIENT_SECRET (recording it under "
        "--record-mode=new_episodes needs them too)"
    ) in result.outlines
    assert (barapi_server.token_request_count, barapi_server.api_requests) == (1, 1)


WIDER_FIXTURE = """
import pytest

@pytest.fixture(scope="module")
def me(barapi_session):
    response = barapi_session.get("/v1/me")
    assert response.status_code == 200, response.text
    return response.json()
"""


def test_without_pytest_recording_a_wider_fixture_is_live_like_every_test(
    user_suite: pytest.Pytester, barapi_server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """-p no:recording: no test's cassette plays, so the cassette of the run is not used
    either (its answers would not be those of the live tests beside it); the token cassette
    still replays, and each request gets the run's one live token."""
    user_suite.makeconftest(WIDER_FIXTURE)
    user_suite.makepyfile(test_wide="def test_wide(me):\n    assert me['user']\n")
    user_suite.runpytest("--record-mode=once").assert_outcomes(passed=3)
    assert (barapi_server.token_request_count, barapi_server.api_requests) == (1, 2)

    user_suite.runpytest("-p", "no:recording").assert_outcomes(passed=3)

    # test_me and the fixture's call, live, with one live token.
    assert (barapi_server.token_request_count, barapi_server.api_requests) == (2, 4)
    monkeypatch.delenv("BARAPI_PASSWORD")
    monkeypatch.delenv("BARAPI_CLIENT_SECRET")

    result = user_suite.runpytest("-p", "no:recording")

    result.assert_outcomes(passed=1, failed=1, errors=1)
    message = (
        "barapi: a request that no cassette plays needs a live token, and the token is "
        f"replayed from {CASSETTE}; no request sent: set --barapi-password / BARAPI_PASSWORD, "
        "--barapi-client-secret / BARAPI_CLIENT_SECRET (pytest-recording is not loaded, "
        "-p no:recording, so no cassette plays a test's requests)"
    )
    assert result.outlines.count(message) == 2  # test_me's and the fixture's
    assert (barapi_server.token_request_count, barapi_server.api_requests) == (2, 4)


A_LIVE_TEST_OF_A_MODULE_FIXTURE = """
import pytest

@pytest.fixture(scope="module")
def me_once(barapi_session):
    response = barapi_session.get("/v1/me")
    assert response.status_code == 200, response.text
    return response.json()

def test_me_live(barapi_session, me_once):
    assert barapi_session.get("/v1/me").json() == me_once
"""


def test_a_live_test_whose_fixture_is_not_recorded_is_told_it_can_run_everything_live(
    recorded_suite: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    """The fixture's request goes through the cassette of the run, which --record-mode=none
    only replays: record it, or send every request live with --disable-recording."""
    recorded_suite.makepyfile(test_live=A_LIVE_TEST_OF_A_MODULE_FIXTURE)

    result = recorded_suite.runpytest()

    result.assert_outcomes(passed=2, errors=1)
    assert (
        f"barapi: GET {barapi_server.url}/v1/me, sent outside any test's "
        "cassette (a session-scoped fixture, say), is not in the cassette of the run "
        "cassettes/barapi_token.run.yaml (--record-mode=none); no request sent: record it "
        "(with the credentials set, which recording needs): pytest --record-mode=once, or send "
        "every request live: pytest --disable-recording"
    ) in result.outlines
    assert barapi_server.api_requests == 1  # the recording run's test_me only

    recorded_suite.runpytest("--disable-recording").assert_outcomes(passed=3)

    # test_me, the fixture's call and the live test's, all live.
    assert barapi_server.api_requests == 1 + 3
