"""The one place that talks OAuth: POST a grant to <url>/oauth/token, read the answer.

Every failure becomes a :class:`BarapiError` whose message names the cause and the setting to
fix. It is raised ``from None`` and built from plain strings, so no frame or exception that
held the request body (ours, requests', urllib3's) travels with it.
"""

from __future__ import annotations

import time
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from pytest_barapi.errors import BarapiError, GrantRefused
from pytest_barapi.scrubbing import Scrubber
from pytest_barapi.secrets import KnownSecrets
from pytest_barapi.settings import OPTIONS
from pytest_barapi.token import BarapiToken

RETRIES = 3
EXCERPT = 200
# What to check, by RFC 6749 §5.2 error code.
FIXES = {
    "invalid_grant": ("user", "password"),
    "invalid_client": ("client_id", "client_secret"),
    "unauthorized_client": ("client_id",),
    "invalid_scope": ("scope",),
}


class DeadlineRetry(Retry):
    """urllib3's Retry, stopped once the exchange's whole time budget is spent."""

    deadline = float("inf")

    def new(self, **kw: Any) -> DeadlineRetry:
        retry = super().new(**kw)
        retry.deadline = self.deadline
        return retry

    def is_exhausted(self) -> bool:
        return super().is_exhausted() or time.monotonic() >= self.deadline

    def get_backoff_time(self) -> float:
        return min(super().get_backoff_time(), max(0.0, self.deadline - time.monotonic()))


def _retry(timeout: float) -> DeadlineRetry:
    # Only what cannot have reached the server (connect) or what the server says was not done
    # (5xx) is retried; a 4xx never is: the endpoint rate-limits and may lock the account.
    retry = DeadlineRetry(
        total=RETRIES,
        connect=RETRIES,
        read=0,
        status=RETRIES,
        other=0,
        status_forcelist=(500, 502, 503, 504),
        allowed_methods=frozenset({"POST"}),
        backoff_factor=0.2,
        raise_on_status=False,
        respect_retry_after_header=False,
    )
    retry.deadline = time.monotonic() + timeout
    return retry


def post_grant(
    url: str, form: dict[str, str], *, timeout: float, secrets: list[str]
) -> BarapiToken:
    """Send one grant (with retries on connection errors and 5xx) and return its token."""
    message = None
    with requests.Session() as http:
        http.trust_env = False  # no netrc credentials or proxies from the user's environment
        http.mount(url, HTTPAdapter(max_retries=_retry(timeout)))
        try:
            response = http.post(url, data=form, timeout=timeout, allow_redirects=False)
        except requests.RequestException as error:
            message = _transport_failure(error, url, timeout)
        except Exception as error:
            # A bug of ours or a library's: its traceback would pass through frames holding
            # the form, so only its type and (masked) text leave here.
            detail = _masked(str(error), secrets)
            message = f"unexpected {type(error).__name__} posting to {url}: {detail}"
    if message is not None:
        raise BarapiError(message) from None
    return _read_answer(url, response, secrets)


def _transport_failure(error: BaseException, url: str, timeout: float) -> str:
    """Say which of timeout, refused, unknown host, TLS, or other it was, with the fix."""
    # requests wraps urllib3 wraps socket errors; the names along the chain tell them apart.
    names: set[str] = set()
    seen: object = error
    while isinstance(seen, BaseException) and len(names) < 20:
        names.add(type(seen).__name__)
        seen = seen.__cause__ or seen.__context__ or getattr(seen, "reason", None)
    if names & {
        "Timeout",
        "ReadTimeout",
        "ConnectTimeout",
        "ReadTimeoutError",
        "ConnectTimeoutError",
        "TimeoutError",
        "timeout",
    }:
        return (
            f"timed out after {timeout:g}s waiting for {url}; check that barapi is up, "
            f"or raise {OPTIONS['timeout'].where()}"
        )
    if names & {"NameResolutionError", "gaierror"}:
        cause = "unknown host"
    elif "ConnectionRefusedError" in names:
        cause = "connection refused"
    elif names & {"SSLError", "SSLCertVerificationError"}:
        cause = "TLS handshake failed"
    else:
        cause = f"could not connect ({type(error).__name__})"
    return f"{cause} for {url}; check {OPTIONS['url'].where()}"


def _read_answer(url: str, response: requests.Response, secrets: list[str]) -> BarapiToken:
    status = f"HTTP {response.status_code}"
    content_type = response.headers.get("Content-Type", "no content type")
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        excerpt = _masked(response.text[:EXCERPT], secrets)
        kind = "not JSON" if body is None else "JSON but not an object"
        raise BarapiError(
            f"{url} answered {status} ({content_type}), {kind}: {excerpt!r}; "
            f"check {OPTIONS['url'].where()}"
        )
    if 400 <= response.status_code < 500:
        raise GrantRefused(_refusal(url, status, body, secrets))
    if response.status_code != 200:
        raise BarapiError(_refusal(url, status, body, secrets))
    return _token(url, body)


def _refusal(url: str, status: str, body: dict[str, Any], secrets: list[str]) -> str:
    error = body.get("error")
    if not isinstance(error, str):
        excerpt = _masked(str(body)[:EXCERPT], secrets)
        return f"{url} answered {status} without an OAuth error code: {excerpt}"
    description = body.get("error_description")
    detail = f" ({_masked(str(description), secrets)})" if description else ""
    fix = ", ".join(OPTIONS[name].where() for name in FIXES.get(error, ()))
    advice = f"; check {fix}" if fix else ""
    return f"the token endpoint refused the grant: {error}{detail}, {status}{advice}"


def _token(url: str, body: dict[str, Any]) -> BarapiToken:
    for name in ("access_token", "token_type"):
        if not isinstance(body.get(name), str) or not body[name]:
            raise BarapiError(f"{url} answered HTTP 200 without {name!r} in its JSON")
    if body["token_type"].lower() != "bearer":
        raise BarapiError(f"{url} issued a {body['token_type']!r} token; barapi uses Bearer")
    expires_in = body.get("expires_in")
    if expires_in is not None:
        try:
            expires_in = int(expires_in)
        except (TypeError, ValueError):
            raise BarapiError(f"{url} answered a non-integer expires_in") from None
    refresh = body.get("refresh_token")
    scope = body.get("scope")
    return BarapiToken(
        access_token=body["access_token"],
        token_type=body["token_type"],
        expires_in=expires_in,
        refresh_token=refresh if isinstance(refresh, str) else None,
        scope=scope if isinstance(scope, str) else None,
    )


def _masked(text: str, secrets: list[str]) -> str:
    # A server may echo the request body: the secrets come back form-encoded, not plain.
    known = KnownSecrets()
    known.add(*secrets)
    return Scrubber(known).mask(text)
