"""How a user's suite gets an authenticated barapi session, one exchange for the whole run."""

from __future__ import annotations

import pytest

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
