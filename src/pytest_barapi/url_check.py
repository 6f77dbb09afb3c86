"""The check of the base URL: no URL that could send the password to another host than it names.

urllib.parse checks the URL, while requests connects where urllib3 reads the host: only URLs
the two read alike are accepted, and plain http only to a loopback host. It runs at start-up
with the settings, so it does without urllib3 and requests.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

import pytest

LOOPBACK_NAMES = {"localhost"}
# The whole shape a base URL may have: scheme, host (a name, an IPv4 address, or an IPv6 one
# in brackets), port, path; ASCII. What the URL is checked with (urllib.parse) and what
# connects (urllib3, under requests) split anything else differently: for
# "http://0.0.0.0:8080\@127.0.0.1:9" the first sees host 127.0.0.1, the second dials 0.0.0.0.
# Within this shape they agree (tests/test_howto_survive_hostile_settings.py holds them to it),
# so urllib3 (most of the cost of importing requests) is not imported at start-up to check.
PLAIN_URL = re.compile(
    r"[A-Za-z]+://(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?"
    r"(?:/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?"
)


def checked_url(url: str, source: str) -> str:
    """``url`` without a trailing slash; a :class:`pytest.UsageError` if it cannot be the base
    URL (``source`` says where the setting came from, for the message)."""
    where = f"{_where('url')} (from {source})"
    problem = _url_problem(url)
    if problem is not None:
        raise pytest.UsageError(f"barapi: {where} {problem}")
    parts = urlsplit(url)
    hostname = parts.hostname or ""
    if parts.scheme == "http" and not _is_loopback(hostname):
        raise pytest.UsageError(
            f"barapi: {where} is plain http to {hostname!r}: a password only travels "
            "over https (http is allowed for loopback: 127.0.0.0/8, ::1, localhost)"
        )
    return url.rstrip("/")


def _url_problem(url: str) -> str | None:
    """What makes ``url`` unfit for a base URL, or None."""
    # A URL with an @ may hold a password: only what follows the last @ is echoed.
    shown = repr(url) if "@" not in url else repr("...@" + url.rsplit("@", 1)[1])
    if any(char.isspace() or not char.isprintable() for char in url):
        return f"must not contain whitespace or control characters; got {shown}"
    if "\\" in url:
        return (
            "must not contain a backslash: URL parsers disagree on where its host ends; "
            f"got {shown}"
        )
    try:
        parts = urlsplit(url)
    except ValueError:  # an unclosed [
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        return f"must be an http(s) URL with a host, like https://barapi.cloud; got {shown}"
    if "@" in parts.netloc:
        return (
            "must not contain a user name or password (user:password@host): set "
            f"{_where('user')} and {_where('password')} instead"
        )
    if "?" in url or "#" in url:
        return (
            "must not have a query string or fragment (?... or #...): the token endpoint "
            f"is <url>/oauth/token; got {shown}"
        )
    try:
        port = parts.port
    except ValueError:  # not a number, or past 65535
        port = -1
    if port is not None and not 0 < port < 65536:
        return f"must have a port from 1 to 65535; got {shown}"
    if not PLAIN_URL.fullmatch(url):
        return (
            "must be a plain http(s)://host[:port][/path] URL in ASCII (a host name, an IPv4 "
            f"address, or an IPv6 address in brackets); got {shown}"
        )
    return None


def _is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _where(name: str) -> str:
    # settings imports this module to check its URL: the options it declares are looked up
    # once a check needs their names, not when this module loads.
    from pytest_barapi.settings import OPTIONS

    return OPTIONS[name].where()
