"""The one place that talks OAuth: POST a grant to the token endpoint, read the answer.

The answer is an :data:`~pytest_barapi.outcome.Outcome`: the token, or a
:class:`~pytest_barapi.outcome.Failure` whose message names the cause and the setting to fix.
A failure is built from plain strings, so no frame or exception that held the request body
(ours, requests', urllib3's) travels with it; whatever it quotes of the answer is masked with
the run's masker (a server may echo the request body).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any

import requests
from urllib3.exceptions import HTTPError
from urllib3.response import BaseHTTPResponse

from pytest_barapi.deadline import Deadline, DeadlineAdapter, DeadlineRetry, DeadlineTimeout
from pytest_barapi.identity import BODY, client_authenticated
from pytest_barapi.masking import Masker
from pytest_barapi.outcome import Failure, Outcome
from pytest_barapi.settings import OPTIONS
from pytest_barapi.token import BarapiToken

RETRIES = 3
EXCERPT = 200
# A token answer is a few hundred bytes; more than this is not one, and is not read further
# (nor inflated further, for a compressed body).
MAX_ANSWER = 1024 * 1024
CHUNK = 64 * 1024
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
# The exception names a transport failure's chain holds, by what they mean for the user.
TIMEOUTS = frozenset(
    {
        "Timeout",
        "ReadTimeout",
        "ConnectTimeout",
        "ReadTimeoutError",
        "ConnectTimeoutError",
        "TimeoutError",
        "timeout",
    }
)
NOT_HTTP = frozenset({"BadStatusLine", "LineTooLong", "UnknownProtocol", "HeaderParsingError"})


def _retry(deadline: Deadline, retries: int) -> DeadlineRetry:
    # Only what cannot have reached the server (connect) or what the server says was not done
    # (5xx) is retried; a 4xx never is: the endpoint rate-limits and may lock the account.
    retry = DeadlineRetry(
        total=retries,
        connect=retries,
        read=0,
        status=retries,
        other=0,
        status_forcelist=(500, 502, 503, 504),
        allowed_methods=frozenset({"POST"}),
        backoff_factor=0.2,
        raise_on_status=False,
        respect_retry_after_header=False,
    )
    retry.deadline = deadline
    return retry


class _NoNetrc(requests.auth.AuthBase):
    """Set as the session's auth so that requests never adds credentials from ``~/.netrc``
    (it looks there only when a request has no auth); it adds nothing itself."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request


def post_grant(
    url: str,
    form: dict[str, str],
    *,
    timeout: float,
    masker: Masker,
    client_auth: str = BODY,
    where: Mapping[str, str] | None = None,
    retries: int = RETRIES,
) -> Outcome:
    """Send one grant (with ``retries`` on connection errors and 5xx); its token, or why not.

    ``form`` holds the client's credentials; ``client_auth`` says where they travel.
    ``timeout`` bounds the whole exchange: connecting, retries, and reading the answer.
    ``where`` says how the user sets each credential of this grant, for the advice in a
    refusal (default: the option, ``--barapi-user / BARAPI_USER``).
    """
    how = _Wording(where or {})
    form, headers = client_authenticated(form, client_auth)
    with Deadline(timeout) as deadline, _retry_warnings_silenced(), requests.Session() as http:
        # requests' environment is the user's network: proxies, NO_PROXY, REQUESTS_CA_BUNDLE,
        # CURL_CA_BUNDLE. Its .netrc lookup is not: a grant carries its own credentials only.
        http.trust_env = True
        http.auth = _NoNetrc()
        http.headers.update(headers)
        http.mount(url, DeadlineAdapter(deadline, max_retries=_retry(deadline, retries)))
        try:
            response = http.post(
                url,
                data=form,
                # requests takes a urllib3 Timeout as it is (its typing stubs say otherwise).
                timeout=DeadlineTimeout(deadline),  # type: ignore[arg-type]
                allow_redirects=False,
                stream=True,
            )
            with response:
                body = _read_body(url, response, how)
        except (requests.RequestException, HTTPError, OSError) as error:
            return Failure(_transport_failure(error, url, deadline, how))
        except Exception as error:
            blocked = _blocked(error, url)
            if blocked is not None:
                return Failure(blocked)
            # A bug of ours or a library's: its traceback would pass through frames holding
            # the form, so only its type and (masked) text leave here.
            detail = masker.mask(str(error))
            return Failure(f"unexpected {type(error).__name__} posting to {url}: {detail}")
    if isinstance(body, Failure):
        return body
    if deadline.expired:
        # Its sockets were shut down mid-answer: what was read may be cut short.
        return Failure(_timed_out(url, deadline, how))
    return _read_answer(url, response, body, masker, how)


class _Wording:
    """How the user sets each setting, for the advice a failure gives."""

    def __init__(self, where: Mapping[str, str]) -> None:
        self.where = where

    def __call__(self, name: str) -> str:
        return self.where.get(name) or OPTIONS[name].where()


def _read_body(url: str, response: requests.Response, how: _Wording) -> bytes | Failure:
    """The decoded body, at most :data:`MAX_ANSWER` of it (a compressed body is inflated no
    further than that); a Failure if there is more, or if it cannot be decoded."""
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in _decoded_chunks(response.raw):
            size += len(chunk)
            if size > MAX_ANSWER:
                return Failure(
                    f"{url} answered more than 1 MiB (HTTP {response.status_code}), which is "
                    f"not a token; check {how('url')}"
                )
            chunks.append(chunk)
    except HTTPError as error:
        if "DecodeError" not in _names(error):
            raise
        encoding = response.headers.get("Content-Encoding", "none")
        return Failure(
            f"{url} sent a body that could not be decoded (Content-Encoding: {encoding}); "
            f"check {how('url')}"
        )
    return b"".join(chunks)


def _decoded_chunks(raw: Any) -> Iterator[bytes]:
    """The body, decoded, :data:`CHUNK` at most per read (urllib3 2 bounds each read after
    decoding: a compressed body is inflated only as far as it is read)."""
    if isinstance(raw, BaseHTTPResponse):
        while chunk := raw.read(CHUNK, decode_content=True):
            yield chunk
    else:
        # vcrpy before 8.3 stands an http.client response in for urllib3's, and its read()
        # takes no decode_content (kevin1024/vcrpy#902): read it as requests does.
        yield from raw.stream(CHUNK, decode_content=True)


@contextlib.contextmanager
def _retry_warnings_silenced() -> Iterator[None]:
    """urllib3 logs a WARNING for each retry ("Retrying (...) after connection broken by
    ..."); the failure says what happened in one line, so the exchange's own are dropped."""
    token = _EXCHANGING.set(True)
    try:
        yield
    finally:
        _EXCHANGING.reset(token)


# Set while this thread (context) is posting a grant: other threads' requests keep their logs.
_EXCHANGING: ContextVar[bool] = ContextVar("barapi_exchanging", default=False)


class _DropExchangeRetries(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (_EXCHANGING.get() and str(record.msg).startswith("Retrying ("))


logging.getLogger("urllib3.connectionpool").addFilter(_DropExchangeRetries())


def _names(error: BaseException) -> set[str]:
    """The class names along an exception's chain: requests wraps urllib3 wraps http.client
    and socket errors, and the chain tells a timeout from a refusal from garbage. (Names, not
    bases: urllib3's NewConnectionError is a ConnectTimeoutError, for history's sake.)"""
    names: set[str] = set()
    todo: list[object] = [error]
    seen: set[int] = set()
    while todo and len(seen) < 20:
        current = todo.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        names.add(type(current).__name__)
        # urllib3 keeps the cause in .reason (MaxRetryError) or in args (ProtocolError).
        todo += [current.__cause__, current.__context__, getattr(current, "reason", None)]
        todo += current.args
    return names


def _transport_failure(error: BaseException, url: str, deadline: Deadline, how: _Wording) -> str:
    """Say which of timeout, refused, unknown host, TLS, garbage, or other it was, with the
    fix."""
    names = _names(error)
    if deadline.expired or names & TIMEOUTS:
        return _timed_out(url, deadline, how)
    if "RemoteDisconnected" in names:
        return f"{url} closed the connection without answering; check {how('url')}"
    if names & NOT_HTTP:
        return f"{url} answered something that is not HTTP; check {how('url')}"
    if "IncompleteRead" in names:
        return f"{url} closed the connection in the middle of its answer; check {how('url')}"
    if names & {"NameResolutionError", "gaierror"}:
        cause = "unknown host"
    elif "ConnectionRefusedError" in names:
        cause = "connection refused"
    elif names & {"SSLError", "SSLCertVerificationError"}:
        cause = "TLS handshake failed"
    elif names & {"ConnectionResetError", "BrokenPipeError"}:
        return f"{url} closed the connection without answering; check {how('url')}"
    else:
        cause = f"could not connect ({type(error).__name__})"
    return f"{cause} for {url}; check {how('url')}"


def _timed_out(url: str, deadline: Deadline, how: _Wording) -> str:
    return (
        f"timed out after {deadline.seconds:g}s waiting for {url}; check that barapi is up, "
        f"or raise {how('timeout')}"
    )


def _blocked(error: BaseException, url: str) -> str | None:
    """The message for a connection a test plugin refused to open, or None."""
    name = type(error).__name__
    if name == "SocketBlockedError":  # pytest-socket's --disable-socket
        plugin, way = "pytest-socket", "let it use the network (@pytest.mark.enable_socket)"
    elif name == "SocketConnectBlockedError":  # pytest-socket's --allow-hosts, without this one
        plugin, way = "pytest-socket", "let the host through (--allow-hosts)"
    elif isinstance(error, RuntimeError) and str(error).startswith("Network is disabled"):
        plugin, way = "pytest-recording's --block-network", "let the host through (--allowed-hosts)"
    else:
        return None
    return (
        f"the network is blocked by {plugin} ({name}): no request sent to {url}; replay "
        f"the token from a cassette ({OPTIONS['cassette'].where()}, recorded once with "
        f"--record-mode=once), or {way}"
    )


def _read_answer(
    url: str, response: requests.Response, content: bytes, masker: Masker, how: _Wording
) -> Outcome:
    status = f"HTTP {response.status_code}"
    if 300 <= response.status_code < 400:
        location = response.headers.get("Location")
        to = f"redirecting to {masker.mask(location)!r}" if location else "without a Location"
        return Failure(
            f"{url} answered {status} {to}; a grant is not sent on to another address: "
            f"set {how('url')} to barapi's own"
        )
    if response.status_code == 429:
        retry_after = response.headers.get("Retry-After")
        when = f", Retry-After: {masker.mask(retry_after)}" if retry_after else ""
        return Failure(
            f"{url} answered HTTP 429 Too Many Requests{when}: barapi is rate-limiting token "
            "requests; not retried, wait before running again"
        )
    content_type = response.headers.get("Content-Type", "no content type")
    # Decoded as requests' Response.text would (a BOM stays, and JSON does not take it).
    text = content.decode(response.encoding or "utf-8", errors="replace")
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        excerpt = _excerpt(text, masker)
        kind = "not JSON" if body is None else "JSON but not an object"
        return Failure(
            f"{url} answered {status} ({content_type}), {kind}: {excerpt!r}; check {how('url')}"
        )
    if 400 <= response.status_code < 500:
        return Failure(_refusal(url, status, body, masker, how), refused=True)
    if response.status_code != 200:
        return Failure(_refusal(url, status, body, masker, how))
    return _token(url, body)


def _refusal(url: str, status: str, body: dict[str, Any], masker: Masker, how: _Wording) -> str:
    error = body.get("error")
    if not isinstance(error, str):
        excerpt = _excerpt(str(body), masker)
        return f"{url} answered {status} without an OAuth error code: {excerpt}"
    description = body.get("error_description")
    detail = f" ({masker.mask(str(description))})" if description else ""
    fix = ", ".join(how(name) for name in _fixes(error, description))
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
        except (TypeError, ValueError, OverflowError):
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
