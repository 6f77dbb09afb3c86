"""The one place that talks OAuth: POST a grant to the token endpoint, read the answer.

The answer is an :data:`~pytest_barapi.outcome.Outcome`: the token, or a
:class:`~pytest_barapi.outcome.Failure` whose message names the cause and the setting to fix.
A failure is built from plain strings, so no frame or exception that held the request body
(ours, requests', urllib3's) travels with it; whatever it quotes of the answer is masked with
the run's masker (a server may echo the request body).
"""

from __future__ import annotations

import re
import time
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from pytest_barapi.identity import BODY, client_authenticated
from pytest_barapi.masking import Masker
from pytest_barapi.outcome import Failure, Outcome
from pytest_barapi.settings import OPTIONS
from pytest_barapi.token import BarapiToken

RETRIES = 3
EXCERPT = 200
# A token in an answer we do not accept (a 201, a BOM before the JSON, a JSON array, a form):
# it is still a live token, and the excerpt must not show it.
CARRIED_TOKEN = re.compile(
    r"""["']?(?:access_token|refresh_token|id_token)["']?\s*[:=]\s*["']?([^"'&\s,}]+)"""
)
# What to check, by RFC 6749 §5.2 error code.
FIXES = {
    "invalid_grant": ("user", "password"),
    "invalid_client": ("client_id", "client_secret", "client_auth"),
    "unauthorized_client": ("client_id",),
    "invalid_scope": ("scope",),
}
# invalid_request names no setting, but Authlib answers a wrong password with it ("Invalid
# 'username' or 'password' in request."): a description about those gets invalid_grant's fix.
ABOUT_THE_USER = re.compile(r"\b(?:user ?name|password)\b", re.IGNORECASE)


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
    url: str, form: dict[str, str], *, timeout: float, masker: Masker, client_auth: str = BODY
) -> Outcome:
    """Send one grant (with retries on connection errors and 5xx); its token, or why not.

    ``form`` holds the client's credentials; ``client_auth`` says where they travel.
    """
    form, headers = client_authenticated(form, client_auth)
    with requests.Session() as http:
        http.trust_env = False  # no netrc credentials or proxies from the user's environment
        http.headers.update(headers)
        http.mount(url, HTTPAdapter(max_retries=_retry(timeout)))
        try:
            response = http.post(url, data=form, timeout=timeout, allow_redirects=False)
        except requests.RequestException as error:
            return Failure(_transport_failure(error, url, timeout))
        except Exception as error:
            # A bug of ours or a library's: its traceback would pass through frames holding
            # the form, so only its type and (masked) text leave here.
            detail = masker.mask(str(error))
            return Failure(f"unexpected {type(error).__name__} posting to {url}: {detail}")
    return _read_answer(url, response, masker)


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


def _read_answer(url: str, response: requests.Response, masker: Masker) -> Outcome:
    status = f"HTTP {response.status_code}"
    content_type = response.headers.get("Content-Type", "no content type")
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        excerpt = _excerpt(response.text, masker)
        kind = "not JSON" if body is None else "JSON but not an object"
        return Failure(
            f"{url} answered {status} ({content_type}), {kind}: {excerpt!r}; "
            f"check {OPTIONS['url'].where()}"
        )
    if 400 <= response.status_code < 500:
        return Failure(_refusal(url, status, body, masker), refused=True)
    if response.status_code != 200:
        return Failure(_refusal(url, status, body, masker))
    return _token(url, body)


def _refusal(url: str, status: str, body: dict[str, Any], masker: Masker) -> str:
    error = body.get("error")
    if not isinstance(error, str):
        excerpt = _excerpt(str(body), masker)
        return f"{url} answered {status} without an OAuth error code: {excerpt}"
    description = body.get("error_description")
    detail = f" ({masker.mask(str(description))})" if description else ""
    fix = ", ".join(OPTIONS[name].where() for name in _fixes(error, description))
    advice = f"; check {fix}" if fix else ""
    return f"the token endpoint refused the grant: {error}{detail}, {status}{advice}"


def _fixes(error: str, description: object) -> tuple[str, ...]:
    """The settings to check for an error code, by RFC 6749 §5.2 first."""
    if error in FIXES:
        return FIXES[error]
    if error == "invalid_request" and ABOUT_THE_USER.search(str(description or "")):
        return FIXES["invalid_grant"]
    return ()


def _token(url: str, body: dict[str, Any]) -> Outcome:
    for name in ("access_token", "token_type"):
        if not isinstance(body.get(name), str) or not body[name]:
            return Failure(f"{url} answered HTTP 200 without {name!r} in its JSON")
    if body["token_type"].lower() != "bearer":
        return Failure(f"{url} issued a {body['token_type']!r} token; barapi uses Bearer")
    expires_in = body.get("expires_in")
    if expires_in is not None:
        try:
            expires_in = int(expires_in)
        except (TypeError, ValueError):
            return Failure(f"{url} answered a non-integer expires_in")
    refresh = body.get("refresh_token")
    scope = body.get("scope")
    return BarapiToken(
        access_token=body["access_token"],
        token_type=body["token_type"],
        expires_in=expires_in,
        refresh_token=refresh if isinstance(refresh, str) else None,
        scope=scope if isinstance(scope, str) else None,
    )


def _excerpt(text: str, masker: Masker) -> str:
    """The head of an answer for a message, every secret in it masked."""
    masker.known.add(*CARRIED_TOKEN.findall(text))
    # Masked first, cut after: a cut can leave the head of a secret no mask would match.
    return masker.mask(text)[:EXCERPT]
