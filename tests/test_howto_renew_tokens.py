"""A suite that outlives its token keeps working: refresh before expiry, renew on a 401."""

from __future__ import annotations

import pytest

from tests import reference_server
from tests.authlib_server import BODY, AuthlibServer
from tests.reference_server import ReferenceServer

THREE_CALLS = """
    def test_first(barapi_session):
        assert barapi_session.get("/v1/me").status_code == 200

    def test_second(barapi_session):
        assert barapi_session.get("/v1/me").status_code == 200

    def test_third(barapi_session):
        assert barapi_session.get("/v1/me").status_code == 200
    """


def test_a_token_about_to_expire_is_refreshed_first(
    pytester: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    # The plugin's clock is moved, not waited for: an hour passes in no time.
    pytester.makepyfile(
        """
        from pytest_barapi import clock

        def test_before_expiry(barapi_session):
            assert barapi_session.get("/v1/me").status_code == 200

        def test_in_the_tokens_last_minute(barapi_session):
            clock.advance(3600 - 30)
            assert barapi_session.get("/v1/me").status_code == 200
            assert barapi_session.get("/v1/me").status_code == 200

        def test_after_the_next_expiry(barapi_session):
            clock.advance(3600)
            assert barapi_session.get("/v1/me").status_code == 200
        """
    )
    pytester.runpytest().assert_outcomes(passed=3)
    # Renewed before sending, so barapi never saw an expired token.
    assert barapi_server.api_requests == 4
    assert barapi_server.grant_types() == ["password", "refresh_token", "refresh_token"]
    first, second = barapi_server.token_requests[1:]
    # RFC 6749 §6: the same client credentials, and no scope (meaning "as granted before").
    assert first["client_id"] == reference_server.CLIENT_ID
    assert first["client_secret"] == reference_server.CLIENT_SECRET
    assert "scope" not in first
    # The server rotates refresh tokens: the second refresh must use the new one (the old
    # one would be refused, and we would see a password grant instead).
    assert second["refresh_token"] != first["refresh_token"]


@pytest.mark.parametrize("server", ["barapi_server", "authlib_server"])
def test_a_refresh_token_that_is_not_rotated_serves_every_renewal(
    pytester: pytest.Pytester, request: pytest.FixtureRequest, server: str
) -> None:
    """RFC 6749 §6: the server may keep the refresh token. oauthlib then sends the same one
    again; Authlib leaves it out of the answer, and the old one must be kept, not dropped."""
    barapi: ReferenceServer | AuthlibServer = request.getfixturevalue(server)
    barapi.rotate_refresh_tokens = False
    if isinstance(barapi, AuthlibServer):
        barapi.client_auth_methods = BODY  # what the plugin sends
    barapi.before_api_request[2] = barapi.revoke_access_tokens
    barapi.before_api_request[4] = barapi.revoke_access_tokens
    pytester.makepyfile(THREE_CALLS)
    pytester.runpytest().assert_outcomes(passed=3)
    # Two renewals, both with the refresh grant: a lost refresh token would have made the
    # second one a password grant.
    assert barapi.grant_types() == ["password", "refresh_token", "refresh_token"]
    first, second = barapi.token_requests[1:]
    assert first["refresh_token"] == second["refresh_token"]
    assert barapi.api_requests == 5  # the second and third calls went twice


def test_a_revoked_token_is_renewed_and_the_request_sent_again(
    pytester: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    barapi_server.before_api_request[2] = barapi_server.revoke_access_tokens
    pytester.makepyfile(THREE_CALLS)
    pytester.runpytest().assert_outcomes(passed=3)
    assert barapi_server.grant_types() == ["password", "refresh_token"]
    assert barapi_server.api_requests == 4  # the second call went twice


def test_a_second_401_goes_back_to_the_test(
    pytester: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    barapi_server.before_api_request[2] = barapi_server.revoke_access_tokens
    barapi_server.before_api_request[3] = barapi_server.revoke_access_tokens
    pytester.makepyfile(
        """
        def test_first(barapi_session):
            assert barapi_session.get("/v1/me").status_code == 200

        def test_revoked_twice(barapi_session):
            response = barapi_session.get("/v1/me")
            assert response.status_code == 401
            assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
            assert [r.status_code for r in response.history] == [401]

        def test_the_renewed_token_is_not_renewed_again(barapi_session):
            response = barapi_session.get("/v1/me")
            assert response.status_code == 401
            assert response.history == []  # not sent again either
        """
    )
    pytester.runpytest().assert_outcomes(passed=3)
    assert barapi_server.grant_types() == ["password", "refresh_token"]
    assert barapi_server.api_requests == 4


def test_an_api_that_rejects_every_token_costs_one_renewal_not_one_per_call(
    pytester: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    for n in range(1, 50):
        barapi_server.before_api_request[n] = barapi_server.revoke_access_tokens
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("n", range(20))
        def test_me(barapi_session, n):
            assert barapi_session.get("/v1/me").status_code == 401
        """
    )
    pytester.runpytest().assert_outcomes(passed=20)
    assert barapi_server.grant_types() == ["password", "refresh_token"]
    assert barapi_server.api_requests == 21  # the first call was sent again, once


def test_a_renewed_token_rejected_again_is_still_renewed_before_it_expires(
    pytester: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    barapi_server.before_api_request[1] = barapi_server.revoke_access_tokens
    barapi_server.before_api_request[2] = barapi_server.revoke_access_tokens
    pytester.makepyfile(
        """
        from pytest_barapi import clock

        def test_rejected_twice(barapi_session):
            assert barapi_session.get("/v1/me").status_code == 401

        def test_after_its_expiry(barapi_session):
            clock.advance(3600)
            assert barapi_session.get("/v1/me").status_code == 200
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)
    assert barapi_server.grant_types() == ["password", "refresh_token", "refresh_token"]


def test_a_refused_refresh_falls_back_to_one_password_grant(
    pytester: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    def revoke_everything() -> None:
        barapi_server.revoke_access_tokens()
        barapi_server.revoke_refresh_tokens()

    barapi_server.before_api_request[2] = revoke_everything
    pytester.makepyfile(THREE_CALLS)
    pytester.runpytest().assert_outcomes(passed=3)
    assert barapi_server.grant_types() == ["password", "refresh_token", "password"]


def test_a_failed_renewal_is_reported_once_per_test_and_not_retried(
    pytester: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    def lock_alice_out() -> None:
        barapi_server.revoke_access_tokens()
        barapi_server.revoke_refresh_tokens()
        barapi_server.users[reference_server.USER] = "changed-by-an-admin"

    barapi_server.before_api_request[2] = lock_alice_out
    pytester.makepyfile(THREE_CALLS)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=2)
    message = (
        "barapi: renewing the token failed: the token endpoint refused the grant: invalid_grant "
        "(Invalid credentials given.), HTTP 400; check --barapi-user / BARAPI_USER, "
        "--barapi-password / BARAPI_PASSWORD"
    )
    assert result.outlines.count(message) == 2
    assert "Traceback" not in result.stdout.str()
    assert barapi_server.grant_types() == ["password", "refresh_token", "password"]


def test_xdist_workers_share_a_renewal_after_a_401(
    pytester: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    # Every worker holds the revoked token; the first to get a 401 renews, the others find
    # the renewed token on the controller's board of outcomes and use it.
    barapi_server.before_api_request[5] = barapi_server.revoke_access_tokens
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("n", range(20))
        def test_me(barapi_session, n):
            assert barapi_session.get("/v1/me").status_code == 200
        """
    )
    pytester.runpytest("-n", "2").assert_outcomes(passed=20)
    assert barapi_server.grant_types() == ["password", "refresh_token"]


def test_xdist_workers_share_a_renewal_before_expiry(
    pytester: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    pytester.mkdir("ready")
    pytester.makepyfile(
        """
        import os
        import time
        from pathlib import Path

        from pytest_barapi import clock

        def both_workers_hold_the_token():
            ready = Path(__file__).parent / "ready"
            (ready / os.environ["PYTEST_XDIST_WORKER"]).touch()
            give_up = time.monotonic() + 30
            while len(list(ready.iterdir())) < 2 and time.monotonic() < give_up:
                time.sleep(0.02)

        def test_outlive_the_token(barapi_session):
            assert barapi_session.get("/v1/me").status_code == 200
            # Neither moves on before both hold the first token, however slowly they came
            # up: then the hour passes on both workers' clocks, one expiry for both.
            both_workers_hold_the_token()
            clock.advance(3600)
            assert barapi_session.get("/v1/me").status_code == 200
        """
    )
    # --dist each: both workers run the test, so both find their token expired.
    pytester.runpytest("-n", "2", "--dist", "each").assert_outcomes(passed=2)
    assert barapi_server.grant_types() == ["password", "refresh_token"]
    assert barapi_server.api_requests == 4


def test_a_renewed_token_is_as_secret_as_the_first(
    pytester: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    barapi_server.before_api_request[1] = barapi_server.revoke_access_tokens
    pytester.makepyfile(
        """
        def test_prints_the_renewed_token(barapi_session):
            response = barapi_session.get("/v1/me")
            print(response.request.headers["Authorization"])
            assert response.status_code == 500
        """
    )
    result = pytester.runpytest("-l")
    result.assert_outcomes(failed=1)
    assert barapi_server.grant_types() == ["password", "refresh_token"]
    output = result.stdout.str()
    assert "Bearer ********" in output
    for secret in barapi_server.issued_secrets():
        assert secret not in output
