"""A reference barapi on loopback: oauthlib's reading of RFC 6749, not ours.

The token endpoint is oauthlib's ``LegacyApplicationServer`` (password and refresh_token
grants, Bearer tokens) served by pytest-httpserver's werkzeug server; ``/v1/me`` is a
protected resource that validates the bearer token the same way. The server counts what it
receives, so tests can say "exactly one token request".

Credentials here are obviously fake, and distinctive, so leak tests can grep for them.

Run it on its own to record or run the examples against it (see README, "Record once, replay
in CI")::

    python -m tests.reference_server                      # serve until Ctrl-C
    python -m tests.reference_server pytest examples ...  # serve while a command runs
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import logging
import os
import secrets
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl

from oauthlib.oauth2 import LegacyApplicationServer, RequestValidator
from oauthlib.oauth2.rfc6749.tokens import random_token_generator
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

USER = "alice@example.test"
PASSWORD = "fake-password-Pw9xQ"
# A second user, for tests with more than one identity.
OTHER_USER = "bob@example.test"
OTHER_PASSWORD = "fake-password-Bb3yR"
CLIENT_ID = "fake-client-id-Ci4kZ"
CLIENT_SECRET = "fake-app-key-Cs7mV"
# A public client (RFC 6749 §2.1): it has no secret, and names itself with client_id alone.
PUBLIC_CLIENT_ID = "fake-public-client-Pc2nW"
# Where the examples' pytest.ini expects it: a cassette is recorded for one URL.
EXAMPLES_PORT = 8765
# oauthlib checks the URI for https; the real address is loopback http.
OAUTH_URI = "https://barapi.test"
# The header most JWTs start with ({"alg":"RS256","typ":"JWT"}): tokens of different issuers
# share it, and its first 36 characters.
JWT_HEADER = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9"
# A JWT of someone else's, in an API answer: not a secret of the run.
UNRELATED_JWT = JWT_HEADER + ".eyJzdWIiOiJib2JAZXhhbXBsZS50ZXN0In0.c2lnbmVkLWJ5LWFub3RoZXI"


@dataclass
class Grant:
    user: str
    client_id: str
    scopes: list[str]
    expires_at: float = float("inf")
    access_token: str = ""  # of a refresh token: the access token issued with it


@dataclass
class ReferenceServer:
    """barapi's token endpoint and ``/v1/me``, with counters and knobs for tests."""

    httpserver: HTTPServer
    users: dict[str, str] = field(
        default_factory=lambda: {USER: PASSWORD, OTHER_USER: OTHER_PASSWORD}
    )
    clients: dict[str, str] = field(default_factory=lambda: {CLIENT_ID: CLIENT_SECRET})
    public_clients: tuple[str, ...] = (PUBLIC_CLIENT_ID,)
    scopes: tuple[str, ...] = ("read", "write")
    # django-oauth-toolkit (on oauthlib) answers barapi's empty `scope=` with invalid_scope.
    empty_scope_allowed: bool = True
    # How the server words an error answer: None, as RFC 6749 §5.2 does; or a function from
    # that answer to the server's own (aioauth_wording, nested_wording, detail_wording).
    error_wording: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    expires_in: int = 3600
    rotate_refresh_tokens: bool = True
    # Some servers answer a refresh with the same access token, its lifetime extended, and
    # rotate only the refresh token.
    same_access_token_on_refresh: bool = False
    token_requests: list[dict[str, str]] = field(default_factory=list)
    api_requests: int = 0
    # Server-side events during a run: {n: action} runs action just before API request n
    # (1-based) is served, e.g. {2: server.revoke_access_tokens}.
    before_api_request: dict[int, Callable[[], None]] = field(default_factory=dict)
    access_tokens: dict[str, Grant] = field(default_factory=dict)
    refresh_tokens: dict[str, Grant] = field(default_factory=dict)
    # Every token handed out, in order, whether still valid, revoked or rotated away.
    handed_out: list[str] = field(default_factory=list)
    # Tokens shaped as JWTs (header, claims, signature), as many servers issue them.
    jwt_tokens: bool = False
    # Every body the API endpoints other than /v1/me sent, in order: what a replay must give.
    sent: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _serial: itertools.count[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        # oauthlib logs every token it issues at DEBUG. A real barapi's log never reaches the
        # user's run; this one shares the process, and leak tests grep the run's log file.
        logging.getLogger("oauthlib").setLevel(logging.WARNING)
        self.oauth = LegacyApplicationServer(
            _Validator(self),
            token_generator=self._new_token("access"),
            refresh_token_generator=self._new_token("refresh"),
            token_expires_in=lambda request: self.expires_in,
        )
        self.httpserver.expect_request("/oauth/token", method="POST").respond_with_handler(
            self._token_endpoint
        )
        self.httpserver.expect_request("/v1/me").respond_with_handler(self._me)
        self.httpserver.expect_request("/v1/projects/latest-run").respond_with_handler(
            self._project
        )
        self.httpserver.expect_request("/v1/password", method="POST").respond_with_handler(
            self._change_password
        )
        self.httpserver.expect_request("/v1/reports", method="POST").respond_with_handler(
            self._report
        )

    @property
    def url(self) -> str:
        return self.httpserver.url_for("").rstrip("/")

    @property
    def token_url(self) -> str:
        return self.url + "/oauth/token"

    @property
    def token_request_count(self) -> int:
        return len(self.token_requests)

    def grant_types(self) -> list[str]:
        return [form.get("grant_type", "") for form in self.token_requests]

    def issued_secrets(self) -> list[str]:
        """Every access and refresh token this server has handed out (revoked ones too)."""
        with self._lock:
            return list(self.handed_out)

    def revoke_access_tokens(self) -> None:
        """Make every access token issued so far invalid, as a server-side revocation would."""
        with self._lock:
            self.access_tokens.clear()

    def revoke_refresh_tokens(self) -> None:
        """Make every refresh token issued so far invalid: a refresh grant gets invalid_grant."""
        with self._lock:
            self.refresh_tokens.clear()

    def _new_token(self, kind: str) -> Any:
        def generate(request: Any) -> str:
            if kind == "access" and self.same_access_token_on_refresh and request.refresh_token:
                return self.refresh_tokens[request.refresh_token].access_token
            serial = next(self._serial)
            if self.jwt_tokens:
                claims = json.dumps({"sub": request.user, "kind": kind, "n": serial})
                encoded = base64.urlsafe_b64encode(claims.encode()).decode().rstrip("=")
                return f"{JWT_HEADER}.{encoded}.{random_token_generator(request)}"
            return f"fake-{kind}-{serial}-{random_token_generator(request)}"

        return generate

    def _token_endpoint(self, request: Request) -> Response:
        body = request.get_data(as_text=True)
        with self._lock:
            self.token_requests.append(dict(parse_qsl(body, keep_blank_values=True)))
        headers, text, status = self.oauth.create_token_response(
            f"{OAUTH_URI}/oauth/token", "POST", body, dict(request.headers)
        )
        if status >= 400 and self.error_wording is not None:
            text = json.dumps(self.error_wording(json.loads(text)))
        return Response(text, status=status, headers=headers)

    def _project(self, request: Request) -> Response:
        """A project whose data holds words a weak password is part of, and another JWT."""
        user = self._authorized(request)
        if user is None:
            return _invalid_token()
        return self._send(
            {
                "name": "latest-run",
                "uri": "/v1/projects/latest-run?view=latest&sort=-is_staff",
                "owner": {"user": user, "is_staff": True, "is_test": False},
                "note": "is_staff members see the latest runs first",
                "reviewer_token": UNRELATED_JWT,
            }
        )

    def _report(self, request: Request) -> Response:
        """A report to download: a signed URL, whose signature is a secret of its own (fake,
        and new on every call), which the guide's barapi_mask example masks."""
        if self._authorized(request) is None:
            return _invalid_token()
        signature = f"fake-signature-{secrets.token_hex(16)}"
        return self._send({"signed_url": f"{self.url}/downloads/report.csv?sig={signature}"})

    def _change_password(self, request: Request) -> Response:
        """Changes the user's password: the old and new one travel in a JSON body."""
        user = self._authorized(request)
        if user is None:
            return _invalid_token()
        change = json.loads(request.get_data(as_text=True))
        if self.users.get(user) != change.get("old_password"):
            return self._send({"changed": False, "reason": "the old password is wrong"}, 400)
        self.users[user] = change["new_password"]
        return self._send({"changed": True, "user": user})

    def _authorized(self, request: Request) -> str | None:
        valid, oauth_request = self.oauth.verify_request(
            f"{OAUTH_URI}{request.path}", request.method, "", dict(request.headers), scopes=[]
        )
        return str(oauth_request.user) if valid else None

    def _send(self, answer: dict[str, Any], status: int = 200) -> Response:
        text = json.dumps(answer)
        with self._lock:
            self.sent.append(text)
        return Response(text, status=status, content_type="application/json")

    def _me(self, request: Request) -> Response:
        with self._lock:
            self.api_requests += 1
            action = self.before_api_request.get(self.api_requests)
        if action is not None:
            action()
        valid, oauth_request = self.oauth.verify_request(
            f"{OAUTH_URI}/v1/me", request.method, "", dict(request.headers), scopes=[]
        )
        if not valid:
            return _invalid_token()
        return Response(
            json.dumps({"user": oauth_request.user, "scopes": oauth_request.scopes}),
            content_type="application/json",
        )


def _invalid_token() -> Response:
    return Response(
        json.dumps({"error": "invalid_token"}),
        status=401,
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        content_type="application/json",
    )


class _Validator(RequestValidator):  # type: ignore[misc]
    """The storage and checks oauthlib leaves to the server, backed by ReferenceServer."""

    def __init__(self, server: ReferenceServer) -> None:
        self.server = server

    def client_authentication_required(self, request: Any, *args: Any, **kwargs: Any) -> bool:
        # §4.3.2: a public client need not authenticate, unless it sends credentials anyway.
        public = request.client_id in self.server.public_clients
        return not public or request.client_secret is not None

    def authenticate_client_id(self, client_id: str, request: Any, *args: Any, **kw: Any) -> bool:
        if client_id not in self.server.public_clients:
            return False
        request.client = type("Client", (), {"client_id": client_id})()
        return True

    def authenticate_client(self, request: Any, *args: Any, **kwargs: Any) -> bool:
        client_id, secret = request.client_id, request.client_secret
        if client_id is None or self.server.clients.get(client_id) != secret:
            return False
        request.client = type("Client", (), {"client_id": client_id})()
        return True

    def validate_grant_type(self, client_id: str, grant_type: str, *args: Any, **kw: Any) -> bool:
        return grant_type in ("password", "refresh_token")

    def validate_user(
        self, username: str, password: str, client: Any, request: Any, *args: Any, **kwargs: Any
    ) -> bool:
        if self.server.users.get(username) != password:
            return False
        request.user = username
        return True

    def get_default_scopes(self, client_id: str, request: Any, *args: Any, **kw: Any) -> list[str]:
        return []

    def validate_scopes(self, client_id: str, scopes: list[str], *args: Any, **kw: Any) -> bool:
        # oauthlib reads barapi's empty `scope=` as [""]: no scope, which is allowed here.
        if not any(scopes) and not self.server.empty_scope_allowed:
            return False
        return all(scope in self.server.scopes for scope in scopes if scope)

    def save_bearer_token(self, token: dict[str, Any], request: Any, *args: Any, **kw: Any) -> None:
        grant = Grant(request.user, request.client.client_id, list(request.scopes or []))
        with self.server._lock:
            self.server.handed_out.append(token["access_token"])
            self.server.access_tokens[token["access_token"]] = Grant(
                grant.user, grant.client_id, grant.scopes, time.time() + token["expires_in"]
            )
            if "refresh_token" in token:
                self.server.handed_out.append(token["refresh_token"])
                if request.refresh_token and self.server.rotate_refresh_tokens:
                    self.server.refresh_tokens.pop(request.refresh_token, None)
                self.server.refresh_tokens[token["refresh_token"]] = replace(
                    grant, access_token=token["access_token"]
                )

    def validate_bearer_token(self, token: str, scopes: list[str], request: Any) -> bool:
        grant = self.server.access_tokens.get(token or "")
        if grant is None or grant.expires_at < time.time():
            return False
        request.user, request.scopes = grant.user, grant.scopes
        return True

    def validate_refresh_token(
        self, refresh_token: str, client: Any, request: Any, *args: Any, **kwargs: Any
    ) -> bool:
        grant = self.server.refresh_tokens.get(refresh_token)
        if grant is None or grant.client_id != client.client_id:
            return False
        request.user = grant.user
        return True

    def get_original_scopes(self, refresh_token: str, request: Any, *a: Any, **k: Any) -> list[str]:
        return self.server.refresh_tokens[refresh_token].scopes

    def rotate_refresh_token(self, request: Any) -> bool:
        return self.server.rotate_refresh_tokens


# Servers that word their errors their own way, each a function from RFC 6749 §5.2's answer.


def aioauth_wording(answer: dict[str, Any]) -> dict[str, Any]:
    """aioauth's: the description under ``description``."""
    return {"error": answer["error"], "description": answer.get("error_description", "")}


def nested_wording(answer: dict[str, Any]) -> dict[str, Any]:
    """An API gateway's: no OAuth code, an object under ``error`` with a ``message``."""
    return {"error": {"status": 400, "message": answer.get("error_description", "")}}


def detail_wording(answer: dict[str, Any]) -> dict[str, Any]:
    """A web framework's (Django REST framework, FastAPI): the reason under ``detail``."""
    return {"error": answer["error"], "detail": answer.get("error_description", "")}


def main(argv: list[str] | None = None) -> int:
    """Serve the reference barapi on 127.0.0.1, alone or while a command runs against it."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.reference_server",
        description="Serve the reference barapi on loopback. With a command, run it with "
        "BARAPI_URL and the fake credentials set, then stop.",
    )
    parser.add_argument("--port", type=int, default=EXAMPLES_PORT, help="0: any free port")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="e.g. pytest examples")
    args = parser.parse_args(argv)

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log over pytest's
    httpserver = HTTPServer(host="127.0.0.1", port=args.port)
    httpserver.start()
    server = ReferenceServer(httpserver)
    env = {
        "BARAPI_URL": server.url,
        "BARAPI_USER": USER,
        "BARAPI_PASSWORD": PASSWORD,
        "BARAPI_CLIENT_ID": CLIENT_ID,
        "BARAPI_CLIENT_SECRET": CLIENT_SECRET,
    }
    try:
        if args.command:
            code = subprocess.call(args.command, env={**os.environ, **env})
        else:
            print(f"reference barapi at {server.url} (Ctrl-C stops it); its fake credentials:")
            for name, value in env.items():
                print(f"export {name}={value}")
            code = 0
            threading.Event().wait()
    except KeyboardInterrupt:
        code = 0
    finally:
        httpserver.stop()
    print(
        f"reference barapi: {server.token_request_count} token request(s), "
        f"{server.api_requests} API request(s)"
    )
    return code


if __name__ == "__main__":
    raise SystemExit(main())
