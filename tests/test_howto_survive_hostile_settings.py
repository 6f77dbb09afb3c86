"""Settings that cannot work, or would send the password elsewhere, stop the run at start-up.

A usage error (exit code 4) names the option and never echoes a password; ``--help`` and
``--version`` work whatever ``BARAPI_*`` holds. The URL is checked with urllib.parse, while
requests connects where urllib3 reads the host: the URLs accepted are those both read alike,
which the corpus below holds them to.
"""

from __future__ import annotations

import random
from urllib.parse import urlsplit

import pytest
from urllib3.util import parse_url

from pytest_barapi.settings import _checked_timeout, checked_url

# The options' names in messages, and the form every message starts with.
URL_ERROR = "barapi: --barapi-url / BARAPI_URL (from env) "

HOSTILE_URLS = {
    # urllib.parse sees host 127.0.0.1 (loopback: plain http allowed); urllib3 dials 0.0.0.0.
    "http://0.0.0.0:8080\\@127.0.0.1:9": "must not contain a backslash: URL parsers "
    "disagree on where its host ends; got '...@127.0.0.1:9'",
    "https://barapi.cloud\\.evil.example": "must not contain a backslash: URL parsers "
    "disagree on where its host ends; got 'https://barapi.cloud\\\\.evil.example'",
    "http://127.0.0.1:9 @evil.example": "must not contain whitespace or control characters; "
    "got '...@evil.example'",
    "https://barapi.cloud\t.evil.example": "must not contain whitespace or control "
    "characters; got 'https://barapi.cloud\\t.evil.example'",
    "https://barapi.cloud\x00": "must not contain whitespace or control characters; "
    "got 'https://barapi.cloud\\x00'",
    "https://alice:fake-url-password-Up8@barapi.cloud": "must not contain a user name or "
    "password (user:password@host): set --barapi-user / BARAPI_USER and --barapi-password "
    "/ BARAPI_PASSWORD instead",
    "https://barapi.cloud?tenant=1": "must not have a query string or fragment (?... or "
    "#...): the token endpoint is <url> followed by the token path; got 'https://barapi.cloud?tenant=1'",
    "https://barapi.cloud/#v2": "must not have a query string or fragment (?... or #...): "
    "the token endpoint is <url> followed by the token path; got 'https://barapi.cloud/#v2'",
    "https://barapi.cloud:99999": "must have a port from 1 to 65535; "
    "got 'https://barapi.cloud:99999'",
    "https://barapi.cloud:0": "must have a port from 1 to 65535; got 'https://barapi.cloud:0'",
    "https://barapi.cloud:+443": "must have a port from 1 to 65535; "
    "got 'https://barapi.cloud:+443'",
    "https://bärapi.cloud": "must be a plain http(s)://host[:port][/path] URL in ASCII (a "
    "host name, an IPv4 address, or an IPv6 address in brackets); got 'https://bärapi.cloud'",
    "https://barapi%2ecloud": "must be a plain http(s)://host[:port][/path] URL in ASCII (a "
    "host name, an IPv4 address, or an IPv6 address in brackets); got 'https://barapi%2ecloud'",
}

FINE_URLS = [
    "https://barapi.cloud",
    "https://barapi.cloud/",
    "HTTPS://Barapi.Cloud:8443/base/path",
    "https://10.0.0.8:8443/o@k",
    "http://127.0.0.1:8080",
    "http://[::1]:8080/barapi",
    "http://localhost",
    "https://my_service.internal/a-b_c~d",
]


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_a_url_parsers_read_differently_is_refused(url: str) -> None:
    with pytest.raises(pytest.UsageError) as refused:
        checked_url(url, "env")
    assert str(refused.value) == URL_ERROR + HOSTILE_URLS[url]


@pytest.mark.parametrize("url", FINE_URLS)
def test_a_url_that_is_accepted_is_read_alike_by_both_parsers(url: str) -> None:
    checked = checked_url(url, "env") + "/oauth/token"
    ours, theirs = urlsplit(checked), parse_url(checked)
    assert (ours.scheme, ours.hostname, ours.port, ours.path) == (
        theirs.scheme,
        (theirs.host or "").strip("[]").lower(),
        theirs.port,
        theirs.path,
    )
    assert ours.username is None
    assert (theirs.auth, theirs.query, theirs.fragment) == (None, None, None)


def test_no_url_is_accepted_that_the_parsers_read_differently() -> None:
    """Thousands of URLs made of the characters parsers disagree on: each one accepted is read
    alike by both (and holds no credentials, query or fragment)."""
    pieces = ["a", "1", ".", ":", "/", "@", "\\", "?", "#", "[", "]", "%", "-", "_", " ", "\t"]
    pieces += ["\u00e9", "\uff0e", "127.0.0.1", "::1", "0.0.0.0", "8080", "%2e", "localhost"]
    chance = random.Random(20261129)
    accepted = 0
    for _ in range(5000):
        scheme = chance.choice(["http://", "https://", "HTTP://", "http:\\\\", "http:/"])
        url = scheme + "".join(chance.choices(pieces, k=chance.randint(1, 8)))
        try:
            checked = checked_url(url, "env")
        except pytest.UsageError:
            continue
        accepted += 1
        ours, theirs = urlsplit(checked), parse_url(checked)
        assert (ours.scheme, ours.hostname, ours.port) == (
            theirs.scheme,
            (theirs.host or "").strip("[]").lower(),
            theirs.port,
        ), url
        assert (theirs.auth, theirs.query, theirs.fragment, ours.username) == (None,) * 4, url
    assert accepted > 50  # the corpus reaches the accepted side too


def test_a_url_with_a_password_is_refused_without_showing_it(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BARAPI_URL", "http://alice:fake-url-password-Up8@127.0.0.1:9")
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert [line for line in result.errlines if line] == [
        "ERROR: " + URL_ERROR + HOSTILE_URLS["https://alice:fake-url-password-Up8@barapi.cloud"]
    ]
    assert "fake-url-password-Up8" not in result.stdout.str() + result.stderr.str()


@pytest.mark.parametrize("text", ["inf", "1e400", "nan", "-1", "0", "86401", "soon"])
def test_a_timeout_is_a_positive_finite_number_of_seconds_up_to_a_day(text: str) -> None:
    with pytest.raises(pytest.UsageError) as refused:
        _checked_timeout(text, "cli")
    assert str(refused.value) == (
        "barapi: --barapi-timeout / BARAPI_TIMEOUT (from cli) must be a positive number of "
        f"seconds, at most 86400 (a day); got {text!r}"
    )


def test_an_infinite_timeout_stops_the_run_at_start_up(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest("--barapi-timeout=inf")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: barapi: --barapi-timeout / BARAPI_TIMEOUT (from cli)*"])


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version_work_whatever_the_environment_holds(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, flag: str
) -> None:
    monkeypatch.setenv("BARAPI_URL", "http://0.0.0.0:8080\\@127.0.0.1:9")
    monkeypatch.setenv("BARAPI_TIMEOUT", "forever")
    result = pytester.runpytest(flag)
    assert result.ret == pytest.ExitCode.OK
    assert "barapi" not in result.stderr.str()
