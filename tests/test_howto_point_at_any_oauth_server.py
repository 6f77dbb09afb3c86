"""How to point the plugin at any standard OAuth 2 server, and read what it says.

barapi is one OAuth 2 server among many: others authenticate clients their own ways, word
their refusals their own way, and grant other scopes. Each section below is one such case,
against the reference servers (oauthlib's, Authlib's) on loopback; each counts the token
requests it gets.
"""

from __future__ import annotations

import pytest

from tests.reference_server import ReferenceServer

THREE_CALLS = """
import pytest

@pytest.mark.parametrize("n", range(3))
def test_me(barapi_session, n):
    assert barapi_session.get("/v1/me").json()["user"] == "alice@example.test"
"""


def the_error(result: pytest.RunResult, tests: int = 3) -> str:
    """The one message every test errored with (after the report header)."""
    result.assert_outcomes(errors=tests)
    _header, *messages = [line for line in result.outlines if line.startswith("barapi: ")]
    assert len(messages) == tests
    assert len(set(messages)) == 1, messages
    return messages[0]


# Messages name the server: barapi on barapi.cloud, "the token server" anywhere else.


def test_a_server_on_loopback_is_the_token_server_not_barapi(
    pytester: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    """A rate limit from a server that is not barapi.cloud says whose it is."""
    barapi_server.httpserver.clear()
    barapi_server.httpserver.expect_request("/oauth/token").respond_with_json(
        {"error": "slow_down"}, status=429, headers={"Retry-After": "5"}
    )
    pytester.makepyfile(THREE_CALLS)
    assert the_error(pytester.runpytest()) == (
        f"barapi: {barapi_server.token_url} answered HTTP 429 Too Many Requests, Retry-After: "
        "5: the token server is rate-limiting token requests; not retried, wait before running "
        "again"
    )
    assert len(barapi_server.httpserver.log) == 1
