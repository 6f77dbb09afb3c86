"""How a user's suite gets an authenticated barapi session, one exchange for the whole run."""

from __future__ import annotations

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from tests.reference_server import ReferenceServer


def test_many_tests_share_one_token_exchange(
    pytester: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("n", range(25))
        def test_me(barapi_session, n):
            response = barapi_session.get("/v1/me")
            assert response.status_code == 200
            assert response.json()["user"] == "alice@example.test"
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=25)
    assert barapi_server.token_request_count == 1
    assert barapi_server.api_requests == 25


def test_the_exchange_sends_the_form_the_api_page_shows(
    pytester: pytest.Pytester, barapi_server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BARAPI_SCOPE", "read")
    pytester.makepyfile("def test_token(barapi_token): pass")
    pytester.runpytest().assert_outcomes(passed=1)
    [form] = barapi_server.token_requests
    assert form == {
        "grant_type": "password",
        "client_id": "fake-client-id-Ci4kZ",
        "client_secret": "fake-app-key-Cs7mV",
        "username": "alice@example.test",
        "password": "fake-password-Pw9xQ",
        "scope": "read",
    }


def test_the_token_is_an_immutable_value_that_hides_itself(
    pytester: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    barapi_server.expires_in = 600
    pytester.makepyfile(
        """
        import dataclasses, datetime, pytest

        def test_token(barapi_token):
            assert barapi_token.token_type == "Bearer"
            assert barapi_token.access_token.startswith("fake-access-")
            assert barapi_token.refresh_token.startswith("fake-refresh-")
            assert barapi_token.expires_in == 600
            # Ten minutes after the answer arrived, on the plugin's clock (pytest_barapi.clock).
            obtained = datetime.datetime.fromtimestamp(
                barapi_token.obtained_at, datetime.timezone.utc
            )
            assert barapi_token.expires_at - obtained == datetime.timedelta(minutes=10)
            assert obtained <= datetime.datetime.now(datetime.timezone.utc)
            assert barapi_token.access_token not in repr(barapi_token)
            assert barapi_token.refresh_token not in repr(barapi_token)
            with pytest.raises(dataclasses.FrozenInstanceError):
                barapi_token.access_token = "other"
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_relative_urls_resolve_against_the_base_url(
    pytester: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    pytester.makepyfile(
        """
        def test_forms(barapi_session):
            assert barapi_session.get("/v1/me").status_code == 200
            assert barapi_session.get("v1/me").status_code == 200
            assert barapi_session.get(barapi_session.base_url + "/v1/me").status_code == 200
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    assert barapi_server.api_requests == 3


def test_the_token_goes_to_barapi_and_nowhere_else(
    pytester: pytest.Pytester, barapi_server: ReferenceServer, make_httpserver: HTTPServer
) -> None:
    """An absolute URL to another host is fetched without the bearer token."""
    other = HTTPServer(host="127.0.0.1", port=0)
    other.start()
    try:
        other.expect_request("/elsewhere").respond_with_data("ok")
        pytester.makepyfile(
            f"""
            def test_elsewhere(barapi_session):
                assert barapi_session.get("{other.url_for("/elsewhere")}").text == "ok"
            """
        )
        pytester.runpytest().assert_outcomes(passed=1)
        [(request, _)] = other.log
        assert "Authorization" not in request.headers
    finally:
        other.stop()


def test_idempotent_requests_are_retried_on_502_503_504(
    pytester: pytest.Pytester, barapi_server: ReferenceServer, httpserver: HTTPServer
) -> None:
    answers = [Response("busy", status=s) for s in (502, 503, 504)] + [Response("done")]
    httpserver.expect_request("/v1/flaky").respond_with_handler(lambda request: answers.pop(0))
    pytester.makepyfile(
        """
        def test_flaky(barapi_session):
            assert barapi_session.get("/v1/flaky").text == "done"
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    assert [r.path for r, _ in httpserver.log].count("/v1/flaky") == 4


def test_a_retry_after_within_the_timeout_is_waited_before_the_next_try(
    pytester: pytest.Pytester, barapi_server: ReferenceServer, httpserver: HTTPServer
) -> None:
    answers = [Response("busy", status=503, headers={"Retry-After": "20"}), Response("done")]
    httpserver.expect_request("/v1/busy").respond_with_handler(lambda request: answers.pop(0))
    pytester.makepyfile(
        """
        from pytest_barapi import clock

        def test_busy(barapi_session):
            started = clock.monotonic()
            assert barapi_session.get("/v1/busy").text == "done"
            # The 20 s asked for (the timeout is 30 s), on the plugin's clock: this suite's
            # conftest makes such a pause move the clock instead of sleeping.
            assert clock.monotonic() - started >= 20
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    assert [r.path for r, _ in httpserver.log].count("/v1/busy") == 2


def test_a_retry_after_longer_than_the_timeout_is_not_waited_for(
    pytester: pytest.Pytester, barapi_server: ReferenceServer, httpserver: HTTPServer
) -> None:
    # An hour's wait would hang the run: the test gets the answer that asked for it, at once.
    httpserver.expect_request("/v1/busy").respond_with_data(
        "busy for an hour", status=503, headers={"Retry-After": "3600"}
    )
    pytester.makepyfile(
        """
        from pytest_barapi import clock

        def test_busy(barapi_session):
            started = clock.monotonic()
            answer = barapi_session.get("/v1/busy")
            assert (answer.status_code, answer.text) == (503, "busy for an hour")
            assert clock.monotonic() - started < 30
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    assert [r.path for r, _ in httpserver.log].count("/v1/busy") == 1


def test_a_post_is_not_retried(
    pytester: pytest.Pytester, barapi_server: ReferenceServer, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/v1/orders", method="POST").respond_with_data("busy", status=503)
    pytester.makepyfile(
        """
        def test_order(barapi_session):
            assert barapi_session.post("/v1/orders", json={}).status_code == 503
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    assert [r.path for r, _ in httpserver.log].count("/v1/orders") == 1


def test_requests_carry_the_configured_timeout(
    pytester: pytest.Pytester, barapi_server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BARAPI_TIMEOUT", "7.5")
    pytester.makepyfile(
        """
        def test_timeout(barapi_session):
            assert barapi_session.timeout == 7.5
            sent = []
            barapi_session.hooks["response"].append(lambda r, **kw: sent.append(kw["timeout"]))
            barapi_session.get("/v1/me")
            assert sent == [7.5]
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_the_session_is_closed_at_the_end_of_the_run(
    pytester: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    pytester.makeconftest(
        """
        def open_pools(session):
            return sum(len(a.poolmanager.pools) for a in set(session.adapters.values()))

        def pytest_sessionfinish(session):
            print("open pools at the end:", open_pools(session.config.seen_barapi_session))
        """
    )
    pytester.makepyfile(
        """
        from conftest import open_pools

        def test_use(barapi_session, pytestconfig):
            barapi_session.get("/v1/me")
            assert open_pools(barapi_session) == 1
            pytestconfig.seen_barapi_session = barapi_session
        """
    )
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*open pools at the end: 0"])


def test_a_token_without_lifetime_or_refresh_token(
    pytester: pytest.Pytester, token_endpoint: HTTPServer
) -> None:
    """RFC 6749 makes both optional: the token says None rather than guessing."""
    token_endpoint.expect_request("/oauth/token").respond_with_json(
        {"access_token": "fake-access", "token_type": "bearer"}
    )
    pytester.makepyfile(
        """
        def test_token(barapi_token):
            assert barapi_token.expires_in is None
            assert barapi_token.expires_at is None
            assert barapi_token.refresh_token is None
            assert barapi_token.token_type == "bearer"
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
