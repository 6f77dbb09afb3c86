"""How to point the plugin at any standard OAuth 2 server, and read what it says.

barapi is one OAuth 2 server among many: others authenticate clients their own ways, word
their refusals their own way, and grant other scopes. Each section below is one such case,
against the reference servers (oauthlib's, Authlib's) on loopback; each counts the token
requests it gets.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from tests.authlib_server import NONE, AuthlibServer
from tests.conftest import CASSETTE, go_offline, point_barapi_at
from tests.reference_server import (
    CLIENT_ID,
    CLIENT_SECRET,
    PASSWORD,
    PUBLIC_CLIENT_ID,
    USER,
    ReferenceServer,
    aioauth_wording,
    detail_wording,
    nested_wording,
)
from tests.test_howto_use_standard_oauth_servers import header_line, the_error
from tests.test_howto_work_at_a_terminal import FILE_KEYRING

Server = ReferenceServer | AuthlibServer

THREE_CALLS = """
import pytest

@pytest.mark.parametrize("n", range(3))
def test_me(barapi_session, n):
    assert barapi_session.get("/v1/me").json()["user"] == "alice@example.test"
"""
# What a public client's password grant holds: its id, and no secret.
PUBLIC_GRANT = {
    "grant_type": "password",
    "client_id": PUBLIC_CLIENT_ID,
    "username": USER,
    "password": PASSWORD,
    "scope": "",
}
CHECK_USER = "check --barapi-user / BARAPI_USER, --barapi-password / BARAPI_PASSWORD"


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
        "invalid_scope, HTTP 400; set --barapi-scope / BARAPI_SCOPE / barapi_scope (ini) to the "
        "scopes the server grants"
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


# A public client: client_auth none.


@pytest.fixture(params=["oauthlib", "authlib"])
def public_server(
    request: pytest.FixtureRequest, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> Server:
    """Each reference server with the public client registered, BARAPI_* set for it: its id,
    client_auth none, and no client secret."""
    server: Server
    if request.param == "oauthlib":
        server = ReferenceServer(httpserver)
    else:
        server = AuthlibServer(httpserver, client_auth_methods=NONE)
    point_barapi_at(server.url, monkeypatch)
    monkeypatch.setenv("BARAPI_CLIENT_ID", PUBLIC_CLIENT_ID)
    monkeypatch.delenv("BARAPI_CLIENT_SECRET")
    monkeypatch.setenv("BARAPI_CLIENT_AUTH", "none")
    return server


# How each server refuses a confidential client that sent no secret.
CONFIDENTIAL_REFUSAL = {
    ReferenceServer: "invalid_client, HTTP 401",
    AuthlibServer: "invalid_client (The client cannot authenticate with methods: ['none']), "
    "HTTP 400",
}


def assert_public(server: Server) -> None:
    """Every grant named the public client in the form, and authenticated it with nothing."""
    for form in server.token_requests:
        assert form["client_id"] == PUBLIC_CLIENT_ID
        assert "client_secret" not in form
    if isinstance(server, AuthlibServer):
        assert server.client_auth_used == ["none"] * server.token_request_count


def test_a_public_client_sends_its_id_and_no_secret(
    pytester: pytest.Pytester, public_server: Server
) -> None:
    pytester.makepyfile(THREE_CALLS)
    result = pytester.runpytest()
    result.assert_outcomes(passed=3)
    assert public_server.token_requests == [PUBLIC_GRANT]
    assert_public(public_server)
    assert (
        f"client_id: {PUBLIC_CLIENT_ID} (env), password: set (env), client_secret: not sent "
        "(public client), scope: - (default), client_auth: none (env)"
    ) in header_line(result)


def test_a_client_secret_set_for_a_public_client_is_not_sent(
    pytester: pytest.Pytester, public_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shared CI environment may set one: a public client still sends none, and says so."""
    monkeypatch.setenv("BARAPI_CLIENT_SECRET", CLIENT_SECRET)
    pytester.makepyfile(THREE_CALLS)
    result = pytester.runpytest()
    result.assert_outcomes(passed=3)
    assert public_server.token_requests == [PUBLIC_GRANT]
    assert "client_secret: set (env) but not sent (public client)" in header_line(result)
    assert CLIENT_SECRET not in result.stdout.str()


def test_a_public_client_renews_its_token_without_a_secret(
    pytester: pytest.Pytester, public_server: Server
) -> None:
    public_server.before_api_request[2] = public_server.revoke_access_tokens
    pytester.makepyfile(THREE_CALLS)
    pytester.runpytest().assert_outcomes(passed=3)
    assert public_server.grant_types() == ["password", "refresh_token"]
    assert public_server.token_requests[1].keys() == {"grant_type", "refresh_token", "client_id"}
    assert_public(public_server)


def test_a_public_client_asks_the_keyring_for_the_password_only(
    pytester: pytest.Pytester, public_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a person's machine the keyring is asked for what is missing: the password, never
    a client secret, and the prompt is not needed (stdin is not a terminal here)."""
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("BARAPI_PASSWORD")
    store = pytester.path / "keyring.json"
    store.write_text(json.dumps({public_server.url: {USER: PASSWORD}}))
    monkeypatch.setenv("TEST_KEYRING", str(store))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "file_keyring.FileKeyring")
    pytester.makepyfile(file_keyring=FILE_KEYRING, test_suite=THREE_CALLS)
    pytester.runpytest_subprocess().assert_outcomes(passed=3)
    asked = Path(f"{store}.asked").read_text().splitlines()
    assert asked == [f"{public_server.url} {USER}"]
    assert public_server.token_requests == [PUBLIC_GRANT]


def test_a_public_client_records_then_replays_offline(
    pytester: pytest.Pytester,
    public_server: Server,
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytester.makeini(
        f"[pytest]\nbarapi_url = {public_server.url}\nbarapi_cassette = {CASSETTE}\n"
        "barapi_client_auth = none\n"
    )
    pytester.makepyfile(
        test_api="""
        import pytest

        @pytest.mark.vcr
        def test_me(barapi_session):
            assert barapi_session.get("/v1/me").json()["user"] == "alice@example.test"
        """
    )
    pytester.runpytest("--record-mode=once").assert_outcomes(passed=1)
    assert public_server.token_requests == [PUBLIC_GRANT]
    cassette = (pytester.path / CASSETTE).read_text()
    assert "client_secret" not in cassette
    assert PUBLIC_CLIENT_ID not in cassette

    go_offline(monkeypatch, httpserver)
    pytester.runpytest("--record-mode=none", "--block-network").assert_outcomes(passed=1)
    assert httpserver.log == []


def test_a_confidential_client_without_its_secret_is_refused_by_the_server(
    pytester: pytest.Pytester, public_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """client_auth none with a client that has a secret: one request, and the advice to check
    the client id and where the client authenticates (a public client sends no secret)."""
    monkeypatch.setenv("BARAPI_CLIENT_ID", CLIENT_ID)
    pytester.makepyfile(THREE_CALLS)
    assert the_error(pytester.runpytest()) == (
        f"barapi: the token endpoint {public_server.url}/oauth/token refused the grant: "
        f"{CONFIDENTIAL_REFUSAL[type(public_server)]}; check "
        "--barapi-client-id / BARAPI_CLIENT_ID, --barapi-client-auth / BARAPI_CLIENT_AUTH"
    )
    assert public_server.token_request_count == 1


# The standard names of the methods.


@pytest.mark.parametrize(
    ("name", "shown"), [("client_secret_post", "body"), ("client_secret_basic", "basic")]
)
def test_the_standard_names_of_the_methods_work_as_the_plugins(
    pytester: pytest.Pytester,
    authlib_server: AuthlibServer,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    shown: str,
) -> None:
    """As a server's own error names them (``The client cannot authenticate with methods:
    ['client_secret_basic']``); the header shows the plugin's name for the same method."""
    authlib_server.client_auth_methods = (name,)
    monkeypatch.setenv("BARAPI_CLIENT_AUTH", name)
    pytester.makepyfile(THREE_CALLS)
    result = pytester.runpytest()
    result.assert_outcomes(passed=3)
    assert authlib_server.client_auth_used == [name]
    assert f", client_auth: {shown} (env), " in header_line(result)
