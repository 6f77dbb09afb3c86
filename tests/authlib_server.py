"""A second reference barapi on loopback: Authlib's reading of RFC 6749, beside oauthlib's.

Why two: a plugin tested against one OAuth server learns that server's habits, not the RFC.
oauthlib (``tests/reference_server.py``) and Authlib were written independently and read
RFC 6749 differently where it leaves room, exactly where real servers differ too:

- client authentication: Authlib's token endpoint accepts only HTTP Basic by default
  (``client_secret_basic``, §2.3.1); credentials in the body are refused ``invalid_client``.
- a wrong password is ``invalid_request`` to Authlib, ``invalid_grant`` to oauthlib (§5.2
  names ``invalid_grant``);
- a refresh grant issues no new refresh token unless the server opts in.

Tests that pass against both servers rely on the RFC, not on one library's choices.

The token endpoint is Authlib's ``AuthorizationServer`` with its password and refresh_token
grants and Bearer tokens; ``/v1/me`` is protected by Authlib's ``ResourceProtector``. The glue
to werkzeug (pytest-httpserver's server) is one small request class, what Authlib's Flask
integration does without Flask. Attributes, counters and knobs have ReferenceServer's names,
so a test can be parametrized over both; only this server has the knobs
``client_auth_methods`` and ``token_path``, and it records how each token request's client
authenticated (``client_auth_used``). The fake credentials are ReferenceServer's.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from authlib.common.security import generate_token
from authlib.oauth2 import OAuth2Error, OAuth2Request, ResourceProtector
from authlib.oauth2.rfc6749 import AuthorizationServer, ClientMixin, JsonRequest, TokenMixin
from authlib.oauth2.rfc6749.grants import (
    RefreshTokenGrant,
    ResourceOwnerPasswordCredentialsGrant,
)
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6750 import BearerTokenGenerator, BearerTokenValidator
from pytest_httpserver import HTTPServer
from pytest_httpserver.httpserver import URIPattern
from werkzeug import Request, Response

from tests.reference_server import (
    CLIENT_ID,
    CLIENT_SECRET,
    OAUTH_URI,
    OTHER_PASSWORD,
    OTHER_USER,
    PASSWORD,
    PUBLIC_CLIENT_ID,
    USER,
)

# Authlib's own default for every grant (BaseGrant.TOKEN_ENDPOINT_AUTH_METHODS).
BASIC = ("client_secret_basic",)
BODY = ("client_secret_post",)
# A public client's (RFC 6749 §2.1): client_id in the form, no secret. Only clients without a
# secret may use it.
NONE = ("none",)
TOKEN_PATH = "/oauth/token"


@dataclass
class Grant(TokenMixin):  # type: ignore[misc]
    """One issued access or refresh token, as Authlib's grants and validator ask about it."""

    user: str
    client_id: str
    scope: str
    expires_at: float = float("inf")
    revoked: bool = False

    def check_client(self, client: Client) -> bool:
        return client.get_client_id() == self.client_id

    def get_scope(self) -> str:
        return self.scope

    def is_expired(self) -> bool:
        return self.expires_at < time.time()

    def is_revoked(self) -> bool:
        return self.revoked


@dataclass(frozen=True)
class Client(ClientMixin):  # type: ignore[misc]
    """A registered client allowed the password and refresh_token grants: confidential, or
    public (no secret)."""

    client_id: str
    client_secret: str

    def get_client_id(self) -> str:
        return self.client_id

    def check_client_secret(self, client_secret: str) -> bool:
        return client_secret == self.client_secret

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        # Which methods the token endpoint accepts is the server's knob, in the grants; a
        # public client authenticates with none, and only it may (§3.2.1).
        return (method == "none") == (not self.client_secret)

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("password", "refresh_token")

    def get_allowed_scope(self, scope: str | None) -> str:
        # AuthorizationServer.scopes_supported already refused scopes it does not know.
        return scope or ""


@dataclass
class AuthlibServer:
    """barapi's token endpoint and ``/v1/me`` by Authlib, with ReferenceServer's counters."""

    httpserver: HTTPServer
    users: dict[str, str] = field(
        default_factory=lambda: {USER: PASSWORD, OTHER_USER: OTHER_PASSWORD}
    )
    clients: dict[str, str] = field(default_factory=lambda: {CLIENT_ID: CLIENT_SECRET})
    public_clients: tuple[str, ...] = (PUBLIC_CLIENT_ID,)
    scopes: tuple[str, ...] = ("read", "write")
    # As ReferenceServer's: None, errors as RFC 6749 §5.2 words them; or the server's own.
    error_wording: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    expires_in: int = 3600
    # ReferenceServer's default, so tests can be parametrized over both; Authlib's own default
    # (RefreshTokenGrant.INCLUDE_NEW_REFRESH_TOKEN) is False: the old refresh token stays.
    rotate_refresh_tokens: bool = True
    # How the token endpoint lets a client authenticate, in Authlib's names: BASIC (HTTP
    # Basic, Authlib's default), BODY (client_id and client_secret in the form), NONE (a
    # public client), or several.
    client_auth_methods: tuple[str, ...] = BASIC
    token_path: str = TOKEN_PATH
    token_requests: list[dict[str, str]] = field(default_factory=list)
    # For each token request, the method the client authenticated with, None if refused.
    client_auth_used: list[str | None] = field(default_factory=list)
    api_requests: int = 0
    # Server-side events during a run: {n: action} runs action just before API request n
    # (1-based) is served, e.g. {2: server.revoke_access_tokens}.
    before_api_request: dict[int, Callable[[], None]] = field(default_factory=dict)
    access_tokens: dict[str, Grant] = field(default_factory=dict)
    refresh_tokens: dict[str, Grant] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _serial: itertools.count[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        # Authlib logs every token it issues at DEBUG; leak tests grep the run's log file.
        logging.getLogger("authlib").setLevel(logging.WARNING)
        self.oauth = _AuthorizationServer(self)
        self.resource = ResourceProtector()
        self.resource.register_token_validator(_BearerTokenValidator(self))
        self.httpserver.expect_request(_TokenPath(self), method="POST").respond_with_handler(
            self._token_endpoint
        )
        self.httpserver.expect_request("/v1/me").respond_with_handler(self._me)

    @property
    def url(self) -> str:
        return self.httpserver.url_for("").rstrip("/")

    @property
    def token_url(self) -> str:
        return self.url + self.token_path

    @property
    def token_request_count(self) -> int:
        return len(self.token_requests)

    def grant_types(self) -> list[str]:
        return [form.get("grant_type", "") for form in self.token_requests]

    def issued_secrets(self) -> list[str]:
        """Every access and refresh token this server has handed out, revoked ones too."""
        return [*self.access_tokens, *self.refresh_tokens]

    def revoke_access_tokens(self) -> None:
        """Make every access token issued so far invalid, as a server-side revocation would."""
        with self._lock:
            for grant in self.access_tokens.values():
                grant.revoked = True

    def revoke_refresh_tokens(self) -> None:
        """Make every refresh token issued so far invalid: a refresh grant gets invalid_grant."""
        with self._lock:
            for grant in self.refresh_tokens.values():
                grant.revoked = True

    def _new_token(self, kind: str) -> Callable[..., str]:
        def generate(**_: Any) -> str:
            return f"fake-{kind}-{next(self._serial)}-{generate_token(30)}"

        return generate

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        expires_in = token.get("expires_in")  # Authlib leaves it out when it is 0
        expires_at = time.time() + expires_in if expires_in else float("inf")
        user, client_id, scope = request.user, request.client.get_client_id(), token.get("scope")
        with self._lock:
            self.access_tokens[token["access_token"]] = Grant(
                user, client_id, scope or "", expires_at
            )
            if "refresh_token" in token:
                self.refresh_tokens[token["refresh_token"]] = Grant(user, client_id, scope or "")

    def _token_endpoint(self, request: Request) -> Response:
        oauth_request = _FormRequest(request)
        with self._lock:
            self.token_requests.append(request.form.to_dict())
        response: Response = self.oauth.create_token_response(oauth_request)
        with self._lock:
            self.client_auth_used.append(oauth_request.auth_method)
        return response

    def _me(self, request: Request) -> Response:
        with self._lock:
            self.api_requests += 1
            action = self.before_api_request.get(self.api_requests)
        if action is not None:
            action()
        try:
            grant = self.resource.validate_request(
                None, JsonRequest(request.method, OAUTH_URI + request.path, request.headers)
            )
        except OAuth2Error as error:
            return _json_response(*error())
        return _json_response(200, {"user": grant.user, "scopes": grant.scope.split()}, [])


class _AuthorizationServer(AuthorizationServer):  # type: ignore[misc]
    """Authlib's server, told where clients and tokens live and how werkzeug speaks."""

    def __init__(self, barapi: AuthlibServer) -> None:
        super().__init__(scopes_supported=list(barapi.scopes))
        self.barapi = barapi
        self.register_token_generator(
            "default",
            BearerTokenGenerator(
                barapi._new_token("access"),
                barapi._new_token("refresh"),
                lambda client, grant_type: barapi.expires_in,
            ),
        )
        self.register_grant(_PasswordGrant)
        self.register_grant(_RefreshTokenGrant)

    def query_client(self, client_id: str) -> Client | None:
        if client_id in self.barapi.public_clients:
            return Client(client_id, "")
        secret = self.barapi.clients.get(client_id)
        return None if secret is None else Client(client_id, secret)

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        self.barapi.save_token(token, request)

    def create_oauth2_request(self, request: OAuth2Request) -> OAuth2Request:
        return request  # already one: AuthlibServer builds it to read auth_method afterwards

    def handle_response(
        self, status: int, body: dict[str, Any], headers: list[tuple[str, str]]
    ) -> Response:
        if status >= 400 and self.barapi.error_wording is not None:
            body = self.barapi.error_wording(body)
        return _json_response(status, body, headers)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """Authlib's hook for a framework's signals; nothing listens here."""


class _FormRequest(OAuth2Request):  # type: ignore[misc]
    """A werkzeug form POST as Authlib reads it (its FlaskOAuth2Request, without Flask)."""

    def __init__(self, request: Request) -> None:
        # Authlib refuses http URIs (InsecureTransportError); the real one is loopback http.
        super().__init__(request.method, OAUTH_URI + request.path, headers=request.headers)
        self._form = request.form
        self.payload = BasicOAuth2Payload(request.form.to_dict())

    @property
    def form(self) -> Any:
        return self._form


class _PasswordGrant(ResourceOwnerPasswordCredentialsGrant):  # type: ignore[misc]
    def __init__(self, request: OAuth2Request, server: _AuthorizationServer) -> None:
        super().__init__(request, server)
        self.TOKEN_ENDPOINT_AUTH_METHODS = list(server.barapi.client_auth_methods)

    def authenticate_user(self, username: str, password: str) -> str | None:
        known = self.server.barapi.users.get(username)
        return username if known is not None and known == password else None


class _RefreshTokenGrant(RefreshTokenGrant):  # type: ignore[misc]
    def __init__(self, request: OAuth2Request, server: _AuthorizationServer) -> None:
        super().__init__(request, server)
        self.TOKEN_ENDPOINT_AUTH_METHODS = list(server.barapi.client_auth_methods)
        self.INCLUDE_NEW_REFRESH_TOKEN = server.barapi.rotate_refresh_tokens

    def authenticate_refresh_token(self, refresh_token: str) -> Grant | None:
        grant = self.server.barapi.refresh_tokens.get(refresh_token)
        return None if grant is None or grant.revoked else grant

    def authenticate_user(self, refresh_token: Grant) -> str:
        return refresh_token.user

    def revoke_old_credential(self, refresh_token: Grant) -> None:
        # Authlib calls this after every refresh; without a new refresh token the old one is
        # all the client has, so only a rotation retires it.
        if self.INCLUDE_NEW_REFRESH_TOKEN:
            with self.server.barapi._lock:
                refresh_token.revoked = True


class _BearerTokenValidator(BearerTokenValidator):  # type: ignore[misc]
    def __init__(self, barapi: AuthlibServer) -> None:
        super().__init__()
        self.barapi = barapi

    def authenticate_token(self, token_string: str) -> Grant | None:
        return self.barapi.access_tokens.get(token_string)


class _TokenPath(URIPattern):
    """The token endpoint's path, read at each request: ``token_path`` is a knob like the rest."""

    def __init__(self, server: AuthlibServer) -> None:
        self.server = server

    def match(self, uri: str) -> bool:
        return uri == self.server.token_path


def _json_response(status: int, body: dict[str, Any], headers: list[tuple[str, str]]) -> Response:
    # Authlib's headers already carry Content-Type (and no-store for tokens); /v1/me's not.
    return Response(
        json.dumps(body), status=status, headers=headers, content_type="application/json"
    )
