"""``barapi_session``: a requests.Session bound to barapi's base URL and bearer token."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from pytest_barapi.token import BarapiToken


class BearerAuth(requests.auth.AuthBase):
    """Puts the current token on requests to barapi's origin, and on no others.

    The token comes from a callable, so a renewed token is used from the next request on.
    """

    def __init__(self, origin: str, current_token: Callable[[], BarapiToken]) -> None:
        self.origin = origin
        self.current_token = current_token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if origin(request.url or "") == self.origin:
            request.headers["Authorization"] = self.current_token().authorization
        return request

    def __repr__(self) -> str:
        return f"BearerAuth(origin={self.origin!r}, token=<hidden>)"


class BarapiSession(requests.Session):
    """A ``requests.Session`` for barapi.

    Relative URLs (``"/v1/me"``) resolve against the base URL; requests to it carry the bearer
    token and the configured timeout; idempotent methods are retried on connection errors and
    502/503/504 with backoff.
    """

    def __init__(self, base_url: str, auth: BearerAuth, timeout: float) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.timeout = timeout
        retry = Retry(
            total=3,
            status_forcelist=(502, 503, 504),
            backoff_factor=0.2,
            raise_on_status=False,
            respect_retry_after_header=True,
        )
        adapter = HTTPAdapter(max_retries=retry)
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        if isinstance(url, bytes):
            url = url.decode()
        return super().request(method, self.absolute(url), *args, **kwargs)

    def absolute(self, url: str) -> str:
        if urlsplit(url).scheme:
            return url
        return f"{self.base_url}/{url.lstrip('/')}"

    def __repr__(self) -> str:
        return f"<BarapiSession {self.base_url}>"


def origin(url: str) -> str:
    """``scheme://host:port`` of a URL, the unit a bearer token is scoped to."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()
