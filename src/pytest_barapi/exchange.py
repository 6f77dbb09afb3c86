"""The one place that talks OAuth: POST a grant to the token endpoint and read its answer.

What comes of it is an :data:`~pytest_barapi.outcome.Outcome`: the token, or a
:class:`~pytest_barapi.outcome.Failure` that says what happened and which setting it concerns
(worded for the user at the edge, :meth:`pytest_barapi.run.BarapiRun.message`). Here, the
transport: retries, the deadline over the whole exchange, and what a request that did not get
through (or an answer that could not be read) means. What the answer says is judged in
:mod:`pytest_barapi.answer`. A failure is built from plain strings, so no frame or exception
that held the request body (ours, requests', urllib3's) travels with it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

import requests
from urllib3.exceptions import HTTPError
from urllib3.response import BaseHTTPResponse

from pytest_barapi.answer import URL, read_answer
from pytest_barapi.deadline import Deadline, DeadlineAdapter, DeadlineRetry, DeadlineTimeout
from pytest_barapi.identity import BODY, client_authenticated
from pytest_barapi.masking import Masker
from pytest_barapi.outcome import Failure, Outcome, Part, Received, Setting
from pytest_barapi.settings import server_called

RETRIES = 3
# A token answer is a few hundred bytes; more than this is not one, and is not read further
# (nor inflated further, for a compressed body).
MAX_ANSWER = 1024 * 1024
CHUNK = 64 * 1024
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
    retries: int = RETRIES,
) -> Outcome:
    """Send one grant (with ``retries`` on connection errors and 5xx); its token, or why not.

    ``form`` holds the client's credentials; ``client_auth`` says where they travel.
    ``timeout`` bounds the whole exchange: connecting, retries, and reading the answer.
    A failure names the settings it concerns; the broker's caller words it for the test.
    """
    not_utf8 = _not_utf8(form)
    if not_utf8 is not None:
        return not_utf8
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
                body = _read_body(url, response)
        except (requests.RequestException, HTTPError, OSError) as error:
            return Failure(_transport_failure(error, url, deadline))
        except Exception as error:
            blocked = _blocked(error, url)
            if blocked is not None:
                return Failure(blocked)
            # A bug of ours or a library's: its traceback would pass through frames holding
            # the form, so only its type and (masked) text leave here.
            detail = Received(masker.mask(str(error)))
            return Failure((f"unexpected {type(error).__name__} posting to {url}: ", detail))
    if isinstance(body, Failure):
        return body
    if deadline.expired:
        # Its sockets were shut down mid-answer: what was read may be cut short.
        return Failure(_timed_out(url, deadline))
    return read_answer(url, response, body, masker, client_auth)


# The setting each field of a grant's form comes from.
_FIELD_SETTINGS = {
    "username": "user",
    "password": "password",
    "client_id": "client_id",
    "client_secret": "client_secret",
    "scope": "scope",
}


def _not_utf8(form: dict[str, str]) -> Failure | None:
    """Why ``form`` cannot be sent: a value that is not UTF-8 text (a ``BARAPI_PASSWORD`` whose
    bytes are latin-1 reaches Python with lone surrogates). Said before anything is encoded:
    the codec's own error quotes the character and its position, a piece of the password."""
    for field, value in form.items():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            name = _FIELD_SETTINGS.get(field)
            if name is None:  # a refresh token the server sent: not ours to fix
                return Failure(f"the {field} is not UTF-8 text; no request sent")
            return Failure(
                (
                    f"the {name.replace('_', ' ')} is not UTF-8 text (its bytes are in another "
                    "encoding, latin-1 say); no request sent: set ",
                    Setting(name),
                    " in UTF-8",
                )
            )
    return None


# Read here, not with the judging in answer.py: the body arrives under the deadline, and
# an error reading it is a transport failure, told apart by the same exception names.
def _read_body(url: str, response: requests.Response) -> bytes | Failure:
    """The decoded body, at most :data:`MAX_ANSWER` of it (a compressed body is inflated no
    further than that); a Failure if there is more, or if it cannot be decoded."""
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in _decoded_chunks(response.raw):
            size += len(chunk)
            if size > MAX_ANSWER:
                return Failure(
                    (
                        f"{url} answered more than 1 MiB (HTTP {response.status_code}), which "
                        "is not a token; check ",
                        URL,
                    )
                )
            chunks.append(chunk)
    except HTTPError as error:
        if "DecodeError" not in _names(error):
            raise
        encoding = response.headers.get("Content-Encoding", "none")
        return Failure(
            (
                f"{url} sent a body that could not be decoded (Content-Encoding: ",
                Received(encoding),
                "); check ",
                URL,
            )
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


def _transport_failure(error: BaseException, url: str, deadline: Deadline) -> tuple[Part, ...]:
    """Say which of timeout, refused, unknown host, TLS, garbage, or other it was, with the
    fix."""
    names = _names(error)
    if deadline.expired or names & TIMEOUTS:
        return _timed_out(url, deadline)
    if "RemoteDisconnected" in names:
        return (f"{url} closed the connection without answering; check ", URL)
    if names & NOT_HTTP:
        return (f"{url} answered something that is not HTTP; check ", URL)
    if "IncompleteRead" in names:
        return (f"{url} closed the connection in the middle of its answer; check ", URL)
    if names & {"NameResolutionError", "gaierror"}:
        cause = "unknown host"
    elif "ConnectionRefusedError" in names:
        cause = "connection refused"
    elif names & {"SSLError", "SSLCertVerificationError"}:
        cause = "TLS handshake failed"
    elif names & {"ConnectionResetError", "BrokenPipeError"}:
        return (f"{url} closed the connection without answering; check ", URL)
    else:
        cause = f"could not connect ({type(error).__name__})"
    return (f"{cause} for {url}; check ", URL)


def _timed_out(url: str, deadline: Deadline) -> tuple[Part, ...]:
    return (
        f"timed out after {deadline.seconds:g}s waiting for {url}; check that "
        f"{server_called(url)} is up, or raise ",
        Setting("timeout"),
    )


def _blocked(error: BaseException, url: str) -> tuple[Part, ...] | None:
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
        "the token from a cassette (",
        Setting("cassette"),
        f", recorded once with --record-mode=once), or {way}",
    )
