"""``barapi_session``: a requests.Session bound to barapi's base URL and bearer token."""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.cookies import extract_cookies_to_jar

from pytest_barapi.deadline import PacedRetry
from pytest_barapi.open_cassette import fate
from pytest_barapi.secrets import Secret
from pytest_barapi.token import BarapiToken


class BearerAuth(requests.auth.AuthBase):
    """Puts the current token on requests to barapi's origin, and on no others.

    The token comes from a callable, asked on every request, so a renewed token is used from
    the next request on. With ``renew``, a 401 ``invalid_token`` answer (RFC 6750 §3.1) gets
    the token renewed and the request sent once more; a second 401 goes back to the caller.

    A replayed token is a placeholder that only the recorded calls accept: it never leaves for
    the network. A request that no open vcrpy cassette plays (none is open, or the open one
    records it) carries the token from ``live_token`` instead.
    """

    def __init__(
        self,
        origin: str,
        current_token: Callable[[], BarapiToken],
        renew: Callable[[str, bool], BarapiToken] | None = None,
        live_token: Callable[[], BarapiToken] | None = None,
    ) -> None:
        self.origin = origin
        self.current_token = current_token
        self.renew = renew
        self.live_token = live_token
        # The last access token barapi answered without rejecting it: a token that has
        # worked may be revoked later, and is worth renewing then (see TokenBroker.renew).
        self._accepted: str | None = None

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if origin(request.url or "") == self.origin:
            token = self.current_token()
            if token.replayed and self.live_token is not None and fate(request) == "sent":
                token = self.live_token()
            request.headers["Authorization"] = token.authorization
            if self.renew is not None:
                request.register_hook("response", self._retry_with_renewed_token)  # type: ignore[no-untyped-call]
        return request

    def _retry_with_renewed_token(
        self, response: requests.Response, **kwargs: Any
    ) -> requests.Response:
        # The way requests' own HTTPDigestAuth.handle_401 answers a challenge: consume and
        # release the first answer, copy the request with the new credentials and cookies,
        # send it through the same connection adapter, and chain the first into its history.
        request = response.request
        sent = str(request.headers.get("Authorization", "")).removeprefix("Bearer ")
        rejected = response.status_code == 401 and _invalid_token(
            response.headers.get("WWW-Authenticate", "")
        )
        if not rejected:
            self._accepted = sent
        if (
            self.renew is None
            or not rejected
            # A streamed body is spent: the request cannot be sent again.
            or not isinstance(request.body, (bytes, str, type(None)))
        ):
            return response
        # Read and release the first answer, so its connection can carry the retry.
        _ = response.content
        response.close()
        token = self.renew(sent, sent == self._accepted)
        if token.access_token == sent and not token.replayed:
            # Not renewed (see TokenBroker.renew): sending it again would be rejected again.
            # A replayed token is never renewed, but where the recording renewed, its cassette
            # holds the call sent again: sending it plays that, as recorded.
            return response
        retry = request.copy()
        extract_cookies_to_jar(retry._cookies, request, response.raw)  # type: ignore[attr-defined,no-untyped-call]
        retry.prepare_cookies(retry._cookies)  # type: ignore[attr-defined]
        retry.headers["Authorization"] = token.authorization
        # Sent through the adapter, not the session: response hooks (this one) do not run
        # again, so a second 401 is returned as it is.
        second: requests.Response = response.connection.send(retry, **kwargs)
        if second.status_code != 401:
            self._accepted = token.access_token
        second.history.append(response)
        second.request = retry
        return second

    def __repr__(self) -> str:
        return f"BearerAuth(origin={self.origin!r}, token=<hidden>)"


def _invalid_token(challenge: str) -> bool:
    return bool(
        re.search(r"(?i)\bbearer\b", challenge)
        and re.search(r'(?i)\berror\s*=\s*"?invalid_token\b', challenge)
    )


class BarapiSession(requests.Session):
    """A ``requests.Session`` for barapi.

    Relative URLs (``"/v1/me"``) resolve against the base URL; requests to it carry the bearer
    token and the configured timeout; idempotent methods are retried on connection errors and
    502/503/504 with backoff, up to 3 times. A server's ``Retry-After`` is waited when it is no
    longer than the timeout; a longer one is not waited for: its answer comes back at once.

    ``recorded_apart`` (method, URL) gives what to send a request through when no test's
    cassette records it (see :mod:`pytest_barapi.run_cassette`): opened before the token is
    put on, so that the token matches what that cassette does with the request.
    """

    def __init__(
        self,
        base_url: str,
        auth: BearerAuth,
        timeout: float,
        recorded_apart: Callable[[str, str], AbstractContextManager[None]] | None = None,
    ) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.auth: BearerAuth = auth
        self.timeout = timeout
        self.recorded_apart = recorded_apart
        retry = PacedRetry(
            total=3,
            status_forcelist=(502, 503, 504),
            backoff_factor=0.2,
            raise_on_status=False,
            respect_retry_after_header=True,
        )
        retry.longest_pause = timeout
        adapter = HTTPAdapter(max_retries=retry)
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        if isinstance(url, bytes):
            url = url.decode()
        if isinstance(method, bytes):
            method = method.decode()
        url = self.absolute(url)
        apart = nullcontext() if self.recorded_apart is None else self.recorded_apart(method, url)
        with apart:
            return super().request(method, url, *args, **kwargs)

    @property
    def token(self) -> BarapiToken:
        """The token the session sends next (renewed first if it is about to expire): for a
        test that hands it to another client. ``barapi_token`` stays the first one."""
        return self.auth.current_token()

    def absolute(self, url: str) -> str:
        if urlsplit(url).scheme:
            return url
        return f"{self.base_url}/{url.lstrip('/')}"

    def __repr__(self) -> str:
        return f"<BarapiSession {self.base_url}>"


class SessionFactory(Protocol):
    """What ``barapi_session_factory`` is, for annotating fixtures that use it."""

    def __call__(
        self,
        *,
        user: str | None = None,
        password: str | Secret | None = None,
        scope: str | None = None,
        client_id: str | None = None,
        client_secret: str | Secret | None = None,
    ) -> BarapiSession: ...


def origin(url: str) -> str:
    """``scheme://host:port`` of a URL, the unit a bearer token is scoped to."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()
