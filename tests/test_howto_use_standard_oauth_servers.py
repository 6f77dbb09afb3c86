"""How to point the plugin at a standard OAuth 2 server: client authentication and token path.

barapi documents the client in the form (``--barapi-client-auth=body``, the default). Many OAuth
servers want it in an HTTP Basic header instead (RFC 6749 §2.3.1; Authlib's default), and serve
the token endpoint elsewhere (django-oauth-toolkit: ``/o/token/``). So the main flows run
against both reference servers, each written from the RFC by other people: oauthlib's with the
client in the body, and Authlib's with the client in HTTP Basic, and in the body. Each server
counts the token requests it gets.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_plus

import pytest
import yaml
from pytest_httpserver import HTTPServer

from pytest_barapi.masking import basic_forms
from tests.authlib_server import BASIC, BODY, AuthlibServer
from tests.conftest import CASSETTE, go_offline, point_barapi_at
from tests.reference_server import (
    CLIENT_ID,
    CLIENT_SECRET,
    OTHER_PASSWORD,
    OTHER_USER,
    PASSWORD,
    USER,
    ReferenceServer,
)

Server = ReferenceServer | AuthlibServer

# Each reference server, and where a run configured for it puts the client's credentials.
SERVERS = ["oauthlib-body", "authlib-basic", "authlib-body"]
# What the client sends besides its credentials, in each grant.
PASSWORD_GRANT = {"grant_type": "password", "username": USER, "password": PASSWORD, "scope": ""}
IN_THE_BODY = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}

REFUSED = "barapi: the token endpoint refused the grant: "
CHECK_USER = "check --barapi-user / BARAPI_USER, --barapi-password / BARAPI_PASSWORD"
CHECK_CLIENT = (
    "check --barapi-client-id / BARAPI_CLIENT_ID, --barapi-client-secret / BARAPI_CLIENT_SECRET, "
    "--barapi-client-auth / BARAPI_CLIENT_AUTH"
)
CANNOT_AUTHENTICATE = "The client cannot authenticate with methods: "
WRONG_PASSWORD = {
    # RFC 6749 §5.2's code.
    "oauthlib-body": f"{REFUSED}invalid_grant (Invalid credentials given.), HTTP 400; {CHECK_USER}",
    # Authlib's: the code names no setting, its description does.
    "authlib-basic": (
        f"{REFUSED}invalid_request (Invalid 'username' or 'password' in request.), HTTP 400; "
        f"{CHECK_USER}"
    ),
    "authlib-body": (
        f"{REFUSED}invalid_request (Invalid 'username' or 'password' in request.), HTTP 400; "
        f"{CHECK_USER}"
    ),
}
WRONG_CLIENT_SECRET = {
    "oauthlib-body": f"{REFUSED}invalid_client, HTTP 401; {CHECK_CLIENT}",
    "authlib-basic": (
        f"{REFUSED}invalid_client ({CANNOT_AUTHENTICATE}['client_secret_basic']), HTTP 401; "
        f"{CHECK_CLIENT}"
    ),
    "authlib-body": (
        f"{REFUSED}invalid_client ({CANNOT_AUTHENTICATE}['client_secret_post']), HTTP 400; "
        f"{CHECK_CLIENT}"
    ),
}

THREE_CALLS = """
import pytest

@pytest.mark.parametrize("n", range(3))
def test_me(barapi_session, n):
    assert barapi_session.get("/v1/me").json()["user"] == "alice@example.test"
"""


@pytest.fixture(params=SERVERS)
def server_kind(request: pytest.FixtureRequest) -> str:
    """Which reference server the test runs against, and where the client's credentials go."""
    return str(request.param)


@pytest.fixture
def oauth_server(
    server_kind: str, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> Server:
    """The reference server of ``server_kind`` on loopback, BARAPI_* pointing a run at it.

    A run for a server that wants HTTP Basic says so in BARAPI_CLIENT_AUTH; the others leave
    the default (body).
    """
    server: Server
    if server_kind == "oauthlib-body":
        server = ReferenceServer(httpserver)
    else:
        wants_basic = server_kind == "authlib-basic"
        server = AuthlibServer(httpserver, client_auth_methods=BASIC if wants_basic else BODY)
        if wants_basic:
            monkeypatch.setenv("BARAPI_CLIENT_AUTH", "basic")
    point_barapi_at(server.url, monkeypatch)
    return server


def client_in_the_body(server: Server) -> bool:
    return not isinstance(server, AuthlibServer) or server.client_auth_methods == BODY


def assert_each_grant_authenticated_the_client_as_configured(server: Server) -> None:
    """The client's credentials in the form, or in HTTP Basic and not in the form."""
    for form in server.token_requests:
        if client_in_the_body(server):
            assert IN_THE_BODY.items() <= form.items()
        else:
            assert IN_THE_BODY.keys().isdisjoint(form)
    if isinstance(server, AuthlibServer):
        method = server.client_auth_methods[0]
        assert server.client_auth_used == [method] * server.token_request_count


def header_line(result: pytest.RunResult) -> str:
    [line] = [line for line in result.outlines if line.startswith("barapi: url: ")]
    return line


def the_error(result: pytest.RunResult, tests: int = 3) -> str:
    """The one message every test errored with (after the report header)."""
    result.assert_outcomes(errors=tests)
    _header, *messages = [line for line in result.outlines if line.startswith("barapi: ")]
    assert len(messages) == tests
    assert len(set(messages)) == 1, messages
    return messages[0]


def test_one_exchange_for_the_whole_run(
    pytester: pytest.Pytester, oauth_server: Server, server_kind: str
) -> None:
    pytester.makepyfile(THREE_CALLS)
    result = pytester.runpytest()
    result.assert_outcomes(passed=3)
    assert oauth_server.token_request_count == 1
    assert oauth_server.api_requests == 3
    [form] = oauth_server.token_requests
    expected = (
        PASSWORD_GRANT if server_kind == "authlib-basic" else {**PASSWORD_GRANT, **IN_THE_BODY}
    )
    assert form == expected
    assert_each_grant_authenticated_the_client_as_configured(oauth_server)
    source = "basic (env)" if server_kind == "authlib-basic" else "body (default)"
    assert f", client_auth: {source}, token_path: /oauth/token (default)" in header_line(result)


def test_a_wrong_password_costs_one_request_and_says_what_to_check(
    pytester: pytest.Pytester,
    oauth_server: Server,
    server_kind: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BARAPI_PASSWORD", "fake-wrong-password")
    pytester.makepyfile(THREE_CALLS)
    assert the_error(pytester.runpytest()) == WRONG_PASSWORD[server_kind]
    assert oauth_server.token_request_count == 1
    assert_each_grant_authenticated_the_client_as_configured(oauth_server)


def test_a_wrong_client_secret_costs_one_request_and_says_what_to_check(
    pytester: pytest.Pytester,
    oauth_server: Server,
    server_kind: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BARAPI_CLIENT_SECRET", "fake-wrong-secret-Wq3xZ")
    pytester.makepyfile(THREE_CALLS)
    assert the_error(pytester.runpytest()) == WRONG_CLIENT_SECRET[server_kind]
    assert oauth_server.token_request_count == 1


def test_a_token_about_to_expire_is_renewed_with_the_same_client_authentication(
    pytester: pytest.Pytester, oauth_server: Server
) -> None:
    pytester.makepyfile(
        """
        from pytest_barapi import clock

        def test_before_expiry(barapi_session):
            assert barapi_session.get("/v1/me").status_code == 200

        def test_after_expiry(barapi_session):
            clock.advance(3600)
            assert barapi_session.get("/v1/me").status_code == 200
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)
    assert oauth_server.grant_types() == ["password", "refresh_token"]
    assert oauth_server.api_requests == 2
    refresh = oauth_server.token_requests[1]
    assert "scope" not in refresh
    assert_each_grant_authenticated_the_client_as_configured(oauth_server)


def test_each_identity_of_the_factory_authenticates_the_client_the_same_way(
    pytester: pytest.Pytester, oauth_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOB_PASSWORD", OTHER_PASSWORD)
    pytester.makepyfile(
        f"""
        import os

        def test_alice_and_bob(barapi_session, barapi_session_factory):
            bob = barapi_session_factory(user={OTHER_USER!r}, password=os.environ["BOB_PASSWORD"])
            assert bob.get("/v1/me").json()["user"] == {OTHER_USER!r}
            assert barapi_session.get("/v1/me").json()["user"] == {USER!r}
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    assert [form["username"] for form in oauth_server.token_requests] == [USER, OTHER_USER]
    assert_each_grant_authenticated_the_client_as_configured(oauth_server)


def suite_with_a_cassette(pytester: pytest.Pytester, server: Server, *settings: str) -> None:
    """A user's suite: non-secret settings in pytest.ini, credentials in the environment."""
    lines = "\n".join(settings)
    pytester.makeini(
        f"""
[pytest]
barapi_url = {server.url}
barapi_cassette = {CASSETTE}
{lines}
"""
    )
    pytester.makepyfile(
        test_api="""
        import pytest

        @pytest.mark.vcr
        def test_me(barapi_session):
            assert barapi_session.get("/v1/me").json()["user"] == "alice@example.test"
        """
    )


def test_record_with_credentials_then_replay_offline(
    pytester: pytest.Pytester,
    oauth_server: Server,
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    suite_with_a_cassette(pytester, oauth_server)
    pytester.runpytest("--record-mode=once").assert_outcomes(passed=1)
    assert oauth_server.token_request_count == 1
    assert_each_grant_authenticated_the_client_as_configured(oauth_server)

    # Offline: no BARAPI_* at all (so the client auth is the default, body, whatever it was
    # recorded with), and a server that answers nothing.
    go_offline(monkeypatch, httpserver)
    pytester.runpytest("--record-mode=none", "--block-network").assert_outcomes(passed=1)
    assert httpserver.log == []


# Characters form-encoding changes, and a colon in the client id, which HTTP Basic could not
# carry unencoded (RFC 7617: the first colon ends the user-id).
SPECIAL_CLIENT_ID = "fake client:id+Ci4/"
SPECIAL_CLIENT_SECRET = "fake s3cr3t/+&=%~:client"


def header_forms(client_id: str, secret: str) -> set[str]:
    """Every way the HTTP Basic value of a client could be written into a file."""
    sent = base64.b64encode(f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode())
    values = {sent.decode(), sent.decode().rstrip("="), *basic_forms(client_id, secret)}
    written = set()
    for value in values:
        for form in (value, f"Basic {value}", quote_plus(value), quote(value, safe="")):
            written |= {form, json.dumps(form)[1:-1]}
    return written


def test_a_cassette_recorded_with_http_basic_holds_no_trace_of_the_header(
    pytester: pytest.Pytester,
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = AuthlibServer(httpserver, clients={SPECIAL_CLIENT_ID: SPECIAL_CLIENT_SECRET})
    point_barapi_at(server.url, monkeypatch)
    monkeypatch.setenv("BARAPI_CLIENT_ID", SPECIAL_CLIENT_ID)
    monkeypatch.setenv("BARAPI_CLIENT_SECRET", SPECIAL_CLIENT_SECRET)
    suite_with_a_cassette(pytester, server, "barapi_client_auth = basic")
    pytester.runpytest("--record-mode=once").assert_outcomes(passed=1)
    # Authlib percent-decodes each half: the id and secret arrived as they are.
    assert server.client_auth_used == ["client_secret_basic"]
    assert server.token_requests == [PASSWORD_GRANT]

    cassette = (pytester.path / CASSETTE).read_text()
    for form in header_forms(SPECIAL_CLIENT_ID, SPECIAL_CLIENT_SECRET):
        assert form not in cassette
    assert "authorization" not in cassette.lower()
    assert "Basic" not in cassette
    [interaction] = yaml.safe_load(cassette)["interactions"]
    assert interaction["request"]["body"] == (
        "grant_type=password&username=placeholder-user&password=placeholder-password&scope="
    )

    go_offline(monkeypatch, httpserver)
    pytester.runpytest("--record-mode=none", "--block-network").assert_outcomes(passed=1)
    assert httpserver.log == []


def test_a_server_that_wants_http_basic_tells_a_client_in_the_body_what_to_set(
    pytester: pytest.Pytester, authlib_server: AuthlibServer
) -> None:
    pytester.makepyfile(THREE_CALLS)
    assert the_error(pytester.runpytest()) == (
        f"{REFUSED}invalid_client ({CANNOT_AUTHENTICATE}['client_secret_basic']), HTTP 401; "
        f"{CHECK_CLIENT}"
    )
    assert authlib_server.token_requests == [{**PASSWORD_GRANT, **IN_THE_BODY}]
    assert authlib_server.client_auth_used == [None]


def test_a_server_that_wants_the_body_tells_a_client_in_http_basic_what_to_set(
    pytester: pytest.Pytester, authlib_server: AuthlibServer
) -> None:
    authlib_server.client_auth_methods = BODY
    pytester.makepyfile(THREE_CALLS)
    assert the_error(pytester.runpytest("--barapi-client-auth=basic")) == (
        f"{REFUSED}invalid_client ({CANNOT_AUTHENTICATE}['client_secret_post']), HTTP 400; "
        f"{CHECK_CLIENT}"
    )
    assert authlib_server.token_request_count == 1


def test_a_django_oauth_toolkit_style_token_path(
    pytester: pytest.Pytester, authlib_server: AuthlibServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    authlib_server.token_path = "/o/token/"
    monkeypatch.setenv("BARAPI_CLIENT_AUTH", "basic")
    pytester.makeini("[pytest]\nbarapi_token_path = /o/token/\n")
    pytester.makepyfile(THREE_CALLS)
    result = pytester.runpytest()
    result.assert_outcomes(passed=3)
    assert ", client_auth: basic (env), token_path: /o/token/ (ini)" in header_line(result)
    assert authlib_server.token_request_count == 1
    assert authlib_server.client_auth_used == ["client_secret_basic"]


def test_a_url_with_a_path_prefix_keeps_it(
    pytester: pytest.Pytester, authlib_server: AuthlibServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    authlib_server.token_path = "/prefix/o/token/"
    monkeypatch.setenv("BARAPI_URL", authlib_server.url + "/prefix")
    monkeypatch.setenv("BARAPI_CLIENT_AUTH", "basic")
    pytester.makepyfile("def test_token(barapi_token): pass")
    pytester.runpytest("--barapi-token-path=/o/token/").assert_outcomes(passed=1)
    assert authlib_server.token_request_count == 1


def test_replay_needs_the_token_path_it_was_recorded_with(
    pytester: pytest.Pytester,
    authlib_server: AuthlibServer,
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """So put it in the ini, with the URL: a cassette is matched on the token endpoint."""
    authlib_server.token_path = "/o/token/"
    suite_with_a_cassette(
        pytester, authlib_server, "barapi_client_auth = basic", "barapi_token_path = /o/token/"
    )
    pytester.runpytest("--record-mode=once").assert_outcomes(passed=1)
    go_offline(monkeypatch, httpserver)
    pytester.runpytest("--record-mode=none", "--block-network").assert_outcomes(passed=1)

    result = pytester.runpytest("--barapi-token-path=/oauth/token")
    assert the_error(result, tests=1) == (
        f"barapi: the cassette {CASSETTE} was recorded for POST {authlib_server.url}/o/token/, "
        f"not POST {authlib_server.url}/oauth/token (--barapi-url / BARAPI_URL, from ini); "
        "re-record it for this URL (pytest --record-mode=rewrite), or set the URL it was "
        "recorded for"
    )
    assert httpserver.log == []


def test_an_unknown_client_auth_is_a_usage_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BARAPI_CLIENT_AUTH", "client_secret_basic")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.errlines == [
        "ERROR: barapi: --barapi-client-auth / BARAPI_CLIENT_AUTH (from env) must be body or "
        "basic; got 'client_secret_basic'",
        "",
    ]


@pytest.mark.parametrize(
    "path",
    ["oauth/token", "/oauth/token?realm=x", "/oauth/token#x", "\\oauth\\token", "/o/ token", ""],
)
def test_a_token_path_that_is_not_a_plain_path_is_a_usage_error(
    pytester: pytest.Pytester, path: str
) -> None:
    result = pytester.runpytest(f"--barapi-token-path={path}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.errlines == [
        "ERROR: barapi: --barapi-token-path / BARAPI_TOKEN_PATH (from cli) must be a path "
        "starting with /, without query, fragment, backslash or whitespace, like "
        f"/oauth/token; got {path!r}",
        "",
    ]


def test_help_lists_both_settings(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    text = " ".join(result.stdout.str().split())  # as read, not as wrapped
    assert (
        "--barapi-client-auth=CLIENT_AUTH how the client authenticates to the token endpoint: "
        "body (client_id and client_secret in the form, as barapi documents) or basic (HTTP "
        "Basic). Default: 'body'. Env: BARAPI_CLIENT_AUTH; ini: barapi_client_auth."
    ) in text
    assert (
        "--barapi-token-path=TOKEN_PATH path of the token endpoint, joined to the URL (a path "
        "in the URL stays). Default: '/oauth/token'. Env: BARAPI_TOKEN_PATH; ini: "
        "barapi_token_path."
    ) in text
