"""What the Authlib reference server answers, asked directly with ``requests``.

These pin down Authlib's reading of RFC 6749 (status, error code, description, headers) so the
plugin can be written against it; the last test runs a user's suite through the plugin.
Where Authlib and oauthlib (``barapi_server``) answer differently, the test says so.
"""

from __future__ import annotations

import os
import time

import pytest
import requests

from tests.authlib_server import BODY, AuthlibServer
from tests.reference_server import CLIENT_ID, CLIENT_SECRET, OTHER_USER, PASSWORD, USER

# The form the plugin sends, client credentials aside (RFC 6749 §4.3.2).
PASSWORD_GRANT = {"grant_type": "password", "username": USER, "password": PASSWORD, "scope": ""}
# client_secret_basic: the client in an Authorization: Basic header (RFC 6749 §2.3.1).
BASIC_AUTH = (CLIENT_ID, CLIENT_SECRET)
# client_secret_post: the client in the form, as the plugin sends it by default.
IN_THE_BODY = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}

NO_STORE = {"Content-Type": "application/json", "Cache-Control": "no-store", "Pragma": "no-cache"}
CANNOT_AUTHENTICATE_BASIC = "The client cannot authenticate with methods: ['client_secret_basic']"
CANNOT_AUTHENTICATE_POST = "The client cannot authenticate with methods: ['client_secret_post']"
INVALID_TOKEN = (
    "The access token provided is expired, revoked, malformed, or invalid for other reasons."
)


def password_grant(server: AuthlibServer, **form: str) -> requests.Response:
    """The plugin's password grant, with the client in HTTP Basic."""
    return requests.post(server.token_url, data={**PASSWORD_GRANT, **form}, auth=BASIC_AUTH)


def refresh_grant(server: AuthlibServer, refresh_token: str) -> requests.Response:
    """RFC 6749 §6 without ``scope`` (meaning "as granted"), the client in HTTP Basic."""
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return requests.post(server.token_url, data=form, auth=BASIC_AUTH)


def me(server: AuthlibServer, access_token: str) -> requests.Response:
    return requests.get(server.url + "/v1/me", headers={"Authorization": f"Bearer {access_token}"})


def test_a_password_grant_with_the_client_in_http_basic_gets_a_bearer_token(
    authlib_server: AuthlibServer,
) -> None:
    response = password_grant(authlib_server)
    assert response.status_code == 200
    assert NO_STORE.items() <= response.headers.items()
    token = response.json()
    assert sorted(token) == ["access_token", "expires_in", "refresh_token", "token_type"]
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 3600
    assert authlib_server.issued_secrets() == [token["access_token"], token["refresh_token"]]
    # Counted once, authenticated by the header: the form never held the client secret.
    assert authlib_server.token_requests == [PASSWORD_GRANT]
    assert authlib_server.client_auth_used == ["client_secret_basic"]

    response = me(authlib_server, token["access_token"])
    assert response.status_code == 200
    assert response.json() == {"user": USER, "scopes": []}
    assert authlib_server.api_requests == 1


def test_the_fixture_points_barapi_at_it_with_the_reference_credentials(
    authlib_server: AuthlibServer,
) -> None:
    assert os.environ["BARAPI_URL"] == authlib_server.url
    assert os.environ["BARAPI_USER"] == USER
    assert os.environ["BARAPI_CLIENT_ID"] == CLIENT_ID
    assert os.environ["BARAPI_CLIENT_SECRET"] == CLIENT_SECRET
    assert os.environ["BARAPI_PASSWORD"] == PASSWORD


def test_by_default_the_client_in_the_body_is_refused_401_invalid_client(
    authlib_server: AuthlibServer,
) -> None:
    response = requests.post(authlib_server.token_url, data={**PASSWORD_GRANT, **IN_THE_BODY})
    # RFC 6749 §5.2 lets a server answer 401 with the schemes it supports; Authlib does.
    assert response.status_code == 401
    assert response.json() == {
        "error": "invalid_client",
        "error_description": CANNOT_AUTHENTICATE_BASIC,
    }
    assert response.headers["WWW-Authenticate"] == (
        f'Basic error="invalid_client", error_description="{CANNOT_AUTHENTICATE_BASIC}"'
    )
    assert authlib_server.token_request_count == 1
    assert authlib_server.client_auth_used == [None]
    assert authlib_server.issued_secrets() == []


def test_a_wrong_or_unknown_client_in_http_basic_is_401_invalid_client(
    authlib_server: AuthlibServer,
) -> None:
    form = PASSWORD_GRANT
    wrong_secret = requests.post(authlib_server.token_url, data=form, auth=(CLIENT_ID, "wrong"))
    unknown = requests.post(authlib_server.token_url, data=form, auth=("unknown", CLIENT_SECRET))
    assert (wrong_secret.status_code, unknown.status_code) == (401, 401)
    assert wrong_secret.json()["error_description"] == CANNOT_AUTHENTICATE_BASIC
    assert unknown.json() == {
        "error": "invalid_client",
        "error_description": "The client does not exist on this server.",
    }
    assert unknown.headers["WWW-Authenticate"] == (
        'Basic error="invalid_client", '
        'error_description="The client does not exist on this server."'
    )
    assert authlib_server.token_request_count == 2


def test_client_secret_post_accepts_the_body_and_refuses_http_basic_with_400(
    authlib_server: AuthlibServer,
) -> None:
    authlib_server.client_auth_methods = BODY
    in_the_body = requests.post(authlib_server.token_url, data={**PASSWORD_GRANT, **IN_THE_BODY})
    assert in_the_body.status_code == 200
    assert in_the_body.json()["token_type"] == "Bearer"

    in_basic = password_grant(authlib_server)
    # 400 and no challenge, although RFC 6749 §5.2 asks for a 401 when the client used the
    # Authorization header: Authlib only answers 401 when it accepts client_secret_basic.
    assert in_basic.status_code == 400
    assert in_basic.json() == {
        "error": "invalid_client",
        "error_description": CANNOT_AUTHENTICATE_POST,
    }
    assert "WWW-Authenticate" not in in_basic.headers
    assert authlib_server.client_auth_used == ["client_secret_post", None]


def test_a_server_may_accept_both_ways(authlib_server: AuthlibServer) -> None:
    authlib_server.client_auth_methods = ("client_secret_basic", "client_secret_post")
    in_the_body = requests.post(authlib_server.token_url, data={**PASSWORD_GRANT, **IN_THE_BODY})
    assert in_the_body.status_code == 200
    assert password_grant(authlib_server).status_code == 200
    assert authlib_server.client_auth_used == ["client_secret_post", "client_secret_basic"]


def test_a_wrong_password_is_invalid_request_not_invalid_grant(
    authlib_server: AuthlibServer,
) -> None:
    response = password_grant(authlib_server, password="wrong-password")
    # RFC 6749 §5.2 (and oauthlib) say invalid_grant; Authlib says invalid_request.
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_request",
        "error_description": "Invalid 'username' or 'password' in request.",
    }
    assert "WWW-Authenticate" not in response.headers
    assert authlib_server.token_request_count == 1
    assert authlib_server.issued_secrets() == []


def test_the_client_is_checked_before_the_password(authlib_server: AuthlibServer) -> None:
    form = {**PASSWORD_GRANT, **IN_THE_BODY, "password": "wrong-password"}
    response = requests.post(authlib_server.token_url, data=form)
    # So a plugin sending the client in the body never learns the password was wrong.
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_an_unknown_scope_is_invalid_scope(authlib_server: AuthlibServer) -> None:
    response = password_grant(authlib_server, scope="read admin")
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_scope",
        "error_description": "The requested scope is invalid, unknown, or malformed.",
    }
    granted = password_grant(authlib_server, scope="read").json()
    assert granted["scope"] == "read"
    assert me(authlib_server, granted["access_token"]).json()["scopes"] == ["read"]


def test_a_refresh_grant_without_scope_keeps_the_scope_and_rotates_the_refresh_token(
    authlib_server: AuthlibServer,
) -> None:
    first = password_grant(authlib_server, scope="read write").json()
    response = refresh_grant(authlib_server, first["refresh_token"])
    assert response.status_code == 200
    second = response.json()
    assert second["scope"] == "read write"
    assert second["refresh_token"] != first["refresh_token"]
    assert me(authlib_server, second["access_token"]).json()["user"] == USER
    # The old access token stays valid until it expires; the old refresh token does not.
    assert me(authlib_server, first["access_token"]).status_code == 200
    again = refresh_grant(authlib_server, first["refresh_token"])
    assert again.status_code == 400
    assert again.json() == {"error": "invalid_grant"}  # no description
    assert authlib_server.grant_types() == ["password", "refresh_token", "refresh_token"]
    assert authlib_server.client_auth_used == ["client_secret_basic"] * 3


def test_without_rotation_a_refresh_answers_no_refresh_token_and_the_old_one_stays(
    authlib_server: AuthlibServer,
) -> None:
    authlib_server.rotate_refresh_tokens = False  # Authlib's own default
    first = password_grant(authlib_server).json()
    for _ in range(2):
        response = refresh_grant(authlib_server, first["refresh_token"])
        assert response.status_code == 200
        assert "refresh_token" not in response.json()
    assert authlib_server.grant_types() == ["password", "refresh_token", "refresh_token"]


def test_a_revoked_refresh_token_is_invalid_grant(authlib_server: AuthlibServer) -> None:
    token = password_grant(authlib_server).json()
    authlib_server.revoke_refresh_tokens()
    response = refresh_grant(authlib_server, token["refresh_token"])
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_grant"}


def test_a_token_revoked_between_two_requests_is_401_invalid_token(
    authlib_server: AuthlibServer,
) -> None:
    token = password_grant(authlib_server).json()["access_token"]
    authlib_server.before_api_request[2] = authlib_server.revoke_access_tokens
    assert me(authlib_server, token).status_code == 200
    response = me(authlib_server, token)
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_token", "error_description": INVALID_TOKEN}
    # oauthlib's reference answers 'Bearer error="invalid_token"' alone.
    assert response.headers["WWW-Authenticate"] == (
        f'Bearer error="invalid_token", error_description="{INVALID_TOKEN}"'
    )
    assert authlib_server.api_requests == 2
    # Revoked is still a secret that must not leak.
    assert token in authlib_server.issued_secrets()


def test_an_expired_token_is_401_invalid_token(authlib_server: AuthlibServer) -> None:
    token = password_grant(authlib_server).json()["access_token"]
    authlib_server.access_tokens[token].expires_at = time.time() - 1
    response = me(authlib_server, token)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


def test_no_token_at_all_is_401_but_not_invalid_token(authlib_server: AuthlibServer) -> None:
    response = requests.get(authlib_server.url + "/v1/me")
    assert response.status_code == 401
    # Authlib's own code and a lower-case scheme: nothing a client should renew a token for.
    assert response.headers["WWW-Authenticate"] == (
        'bearer error="missing_authorization", '
        "error_description=\"Missing 'Authorization' in headers.\""
    )


def test_expires_in_is_a_knob_and_zero_leaves_it_out(authlib_server: AuthlibServer) -> None:
    authlib_server.expires_in = 60
    assert password_grant(authlib_server).json()["expires_in"] == 60
    authlib_server.expires_in = 0
    assert "expires_in" not in password_grant(authlib_server).json()


def test_the_token_path_is_a_knob(authlib_server: AuthlibServer) -> None:
    authlib_server.token_path = "/o/token/"  # django-oauth-toolkit's
    assert authlib_server.token_url == authlib_server.url + "/o/token/"
    assert password_grant(authlib_server).status_code == 200
    old_path = authlib_server.url + "/oauth/token"
    assert requests.post(old_path, data=PASSWORD_GRANT, auth=BASIC_AUTH).status_code != 200
    assert authlib_server.token_request_count == 1


def test_other_users_sign_in_too(authlib_server: AuthlibServer) -> None:
    authlib_server.users[OTHER_USER] = "other-fake-password-Op5"
    token = password_grant(authlib_server, username=OTHER_USER, password="other-fake-password-Op5")
    assert me(authlib_server, token.json()["access_token"]).json()["user"] == OTHER_USER


def test_a_users_suite_passes_through_the_plugin_when_the_body_is_accepted(
    pytester: pytest.Pytester, authlib_server: AuthlibServer
) -> None:
    authlib_server.client_auth_methods = BODY  # what the plugin sends by default
    pytester.makepyfile(
        """
        def test_me(barapi_session):
            assert barapi_session.get("/v1/me").json()["user"] == "alice@example.test"
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    assert authlib_server.client_auth_used == ["client_secret_post"]
    assert authlib_server.api_requests == 1
