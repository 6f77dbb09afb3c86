"""How to point the plugin at any standard OAuth 2 server, and read what it says.

barapi is one OAuth 2 server among many: others authenticate clients their own ways, word
their refusals their own way, and grant other scopes. Each section below is one such case,
against the reference servers (oauthlib's, Authlib's) on loopback; each counts the token
requests it gets.
"""

from __future__ import annotations

import pytest
from pytest_httpserver import HTTPServer

from tests.authlib_server import AuthlibServer
from tests.reference_server import (
    ReferenceServer,
    aioauth_wording,
    detail_wording,
    nested_wording,
)

THREE_CALLS = """
import pytest

@pytest.mark.parametrize("n", range(3))
def test_me(barapi_session, n):
    assert barapi_session.get("/v1/me").json()["user"] == "alice@example.test"
"""
CHECK_USER = "check --barapi-user / BARAPI_USER, --barapi-password / BARAPI_PASSWORD"


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


# Servers that word their refusals their own way.


@pytest.mark.parametrize(
    ("wording", "said"),
    [
        (aioauth_wording, "invalid_grant (Invalid credentials given.), HTTP 400; " + CHECK_USER),
        (detail_wording, "invalid_grant (Invalid credentials given.), HTTP 400; " + CHECK_USER),
    ],
    ids=["aioauth-description", "framework-detail"],
)
def test_a_reason_under_another_name_reaches_the_user(
    pytester: pytest.Pytester,
    barapi_server: ReferenceServer,
    monkeypatch: pytest.MonkeyPatch,
    wording: object,
    said: str,
) -> None:
    barapi_server.error_wording = wording  # type: ignore[assignment]
    monkeypatch.setenv("BARAPI_PASSWORD", "fake-wrong-password")
    pytester.makepyfile(THREE_CALLS)
    assert the_error(pytester.runpytest()) == (
        f"barapi: the token endpoint {barapi_server.token_url} refused the grant: {said}"
    )
    assert barapi_server.token_request_count == 1


def test_a_reason_nested_under_error_reaches_the_user(
    pytester: pytest.Pytester, authlib_server: AuthlibServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    authlib_server.error_wording = nested_wording
    monkeypatch.setenv("BARAPI_CLIENT_AUTH", "basic")
    monkeypatch.setenv("BARAPI_PASSWORD", "fake-wrong-password")
    pytester.makepyfile(THREE_CALLS)
    assert the_error(pytester.runpytest()) == (
        f"barapi: {authlib_server.token_url} answered HTTP 400 without an OAuth error code "
        "(Invalid 'username' or 'password' in request.)"
    )
    assert authlib_server.token_request_count == 1


def test_a_wrong_token_path_names_the_url_posted_to(
    pytester: pytest.Pytester, token_endpoint: HTTPServer
) -> None:
    """django-oauth-toolkit's token endpoint is /o/token/: at /oauth/token, Django REST
    framework answers 404 with its reason under ``detail``."""
    token_endpoint.expect_request("/oauth/token", method="POST").respond_with_json(
        {"detail": "Not found."}, status=404
    )
    pytester.makepyfile(THREE_CALLS)
    url = token_endpoint.url_for("/oauth/token")
    assert the_error(pytester.runpytest()) == (
        f"barapi: {url} answered HTTP 404 without an OAuth error code (Not found.)"
    )
    assert len(token_endpoint.log) == 1


# Scope: barapi's empty scope is sent, as barapi documents; a server may refuse it.


def test_a_server_that_refuses_the_empty_scope_says_which_setting_to_set(
    pytester: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    """django-oauth-toolkit (on oauthlib) refuses ``scope=``; set the scopes it grants."""
    barapi_server.empty_scope_allowed = False
    pytester.makepyfile(THREE_CALLS)
    assert the_error(pytester.runpytest()) == (
        f"barapi: the token endpoint {barapi_server.token_url} refused the grant: "
        "invalid_scope, HTTP 400; set --barapi-scope / BARAPI_SCOPE to the scopes the server "
        "grants"
    )
    assert barapi_server.token_requests[0]["scope"] == ""

    pytester.runpytest("--barapi-scope=read").assert_outcomes(passed=3)
    assert [form["scope"] for form in barapi_server.token_requests] == ["", "read"]


def test_an_invalid_scope_of_the_factory_names_its_argument(
    pytester: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    pytester.makepyfile(
        """
        def test_admin(barapi_session_factory):
            barapi_session_factory(scope="admin")
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=0, failed=1)
    result.stdout.fnmatch_lines(
        [
            f"*the token endpoint {barapi_server.token_url} refused the grant: invalid_scope, "
            "HTTP 400; set barapi_session_factory(scope=...) to the scopes the server grants*"
        ]
    )
    assert barapi_server.token_request_count == 1
