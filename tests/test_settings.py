"""How every setting is resolved: CLI > env > ini > default, each with its source, and checked.

Fast, in this process: ``pytester.parseconfig`` parses a command line as pytest would (no
session runs) and ``settings.resolve`` reads it. ``test_howto_configure.py`` shows the result
in a user's report header.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_barapi import settings
from pytest_barapi.settings import OPTIONS, Settings


def resolved(pytester: pytest.Pytester, *args: str) -> Settings:
    return settings.resolve(pytester.parseconfig(*args))


def revealed(secret: object) -> object:
    return secret.reveal() if hasattr(secret, "reveal") else secret


# How each setting reads back from the resolved settings.
READ: dict[str, Callable[[Settings], object]] = {
    "url": lambda s: s.url,
    "user": lambda s: s.identity.user,
    "password": lambda s: revealed(s.identity.password),
    "client_id": lambda s: s.identity.client_id,
    "client_secret": lambda s: revealed(s.identity.client_secret),
    "scope": lambda s: s.identity.scope,
    "timeout": lambda s: s.timeout,
    "cassette": lambda s: s.cassette,
    "client_auth": lambda s: s.client_auth,
    "token_path": lambda s: s.token_path,
}


def values(name: str, where: str, root: Path) -> tuple[str, object]:
    """A valid value of setting ``name`` that says where it was set, and how it reads back."""
    if name == "url":
        return f"https://{where}.example.test", f"https://{where}.example.test"
    if name == "timeout":
        seconds = {"cli": 1, "env": 2, "ini": 3}[where]
        return str(seconds), float(seconds)
    if name == "cassette":
        return f"{where}.yaml", root / f"{where}.yaml"
    if name == "client_auth":
        value = {"cli": "basic", "env": "body", "ini": "basic"}[where]
        return value, value
    if name == "token_path":
        return f"/{where}/token", f"/{where}/token"
    return f"{where}-{name}", f"{where}-{name}"


@pytest.mark.parametrize(
    ("set_in", "wins"),
    [
        (("cli", "env", "ini"), "cli"),
        (("env", "ini"), "env"),
        (("ini",), "ini"),
        (("cli", "ini"), "cli"),
        ((), "default"),
    ],
    ids=["cli-env-ini", "env-ini", "ini", "cli-ini", "default"],
)
def test_the_first_one_set_wins_for_every_setting(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    set_in: tuple[str, ...],
    wins: str,
) -> None:
    ini, args = ["[pytest]"], []
    for name, option in OPTIONS.items():
        if "ini" in set_in:
            ini.append(f"{option.ini} = {values(name, 'ini', pytester.path)[0]}")
        if "env" in set_in:
            monkeypatch.setenv(option.env, values(name, "env", pytester.path)[0])
        if "cli" in set_in:
            args.append(f"{option.flag}={values(name, 'cli', pytester.path)[0]}")
    pytester.makeini("\n".join(ini))

    resolved_settings = resolved(pytester, *args)

    defaults = {
        "url": "https://barapi.cloud",
        "scope": "",
        "timeout": 30.0,
        "client_auth": "body",
        "token_path": "/oauth/token",
    }
    for name in OPTIONS:
        assert resolved_settings.sources[name] == wins, name
        expected = defaults.get(name) if wins == "default" else values(name, wins, pytester.path)[1]
        assert READ[name](resolved_settings) == expected, name


def test_an_empty_env_var_counts_as_unset(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CI systems expand a secret that is not configured to "": the ini (or default) holds."""
    pytester.makeini("[pytest]\nbarapi_user = ini-user\n")
    monkeypatch.setenv("BARAPI_USER", "")
    monkeypatch.setenv("BARAPI_PASSWORD", "")
    resolved_settings = resolved(pytester)
    assert (resolved_settings.identity.user, resolved_settings.sources["user"]) == (
        "ini-user",
        "ini",
    )
    assert resolved_settings.identity.password is None
    assert resolved_settings.sources["password"] == "default"


def test_the_url_loses_its_trailing_slash(pytester: pytest.Pytester) -> None:
    resolved_settings = resolved(pytester, "--barapi-url=https://barapi.example.test/api/")
    assert resolved_settings.token_url == "https://barapi.example.test/api/oauth/token"


def test_the_record_mode_is_pytest_recordings(pytester: pytest.Pytester) -> None:
    assert resolved(pytester).record_mode == "none"
    assert resolved(pytester, "--record-mode=once").record_mode == "once"
    assert resolved(pytester, "--disable-recording").recording_disabled
    assert resolved(pytester, "-p", "no:recording").record_mode == "none"


NOT_A_URL = "must be an http(s) URL with a host, like https://barapi.cloud; got {url!r}"
NOT_OVER_HTTPS = (
    "is plain http to {host!r}: a password only travels over https (http is allowed for "
    "loopback: 127.0.0.0/8, ::1, localhost)"
)


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("barapi.cloud", NOT_A_URL),
        ("https://", NOT_A_URL),
        ("ftp://barapi.cloud", NOT_A_URL),
        ("http://barapi.cloud", NOT_OVER_HTTPS),
        ("http://10.0.0.8:8080", NOT_OVER_HTTPS),
    ],
    ids=["no-scheme", "no-host", "ftp", "http-to-a-host", "http-to-an-address"],
)
def test_a_url_that_cannot_work_is_a_usage_error(
    pytester: pytest.Pytester, url: str, complaint: str
) -> None:
    with pytest.raises(pytest.UsageError) as raised:
        resolved(pytester, f"--barapi-url={url}")
    host = url.split("//")[-1].split(":")[0]
    assert str(raised.value) == (
        f"barapi: --barapi-url / BARAPI_URL (from cli) {complaint.format(url=url, host=host)}"
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:1",
        "http://127.8.9.10",
        "http://[::1]:1",
        "http://localhost:1",
        "HTTP://LOCALHOST",
    ],
)
def test_plain_http_is_fine_on_loopback(pytester: pytest.Pytester, url: str) -> None:
    assert resolved(pytester, f"--barapi-url={url}").url == url


@pytest.mark.parametrize("timeout", ["soon", "0", "-1", "nan"])
def test_a_timeout_that_is_not_a_positive_number_is_a_usage_error(
    pytester: pytest.Pytester, timeout: str
) -> None:
    pytester.makeini(f"[pytest]\nbarapi_timeout = {timeout}\n")
    with pytest.raises(pytest.UsageError) as raised:
        resolved(pytester)
    assert str(raised.value) == (
        "barapi: --barapi-timeout / BARAPI_TIMEOUT (from ini) must be a positive number "
        f"of seconds, at most 86400 (a day); got {timeout!r}"
    )


@pytest.mark.parametrize(
    ("name", "method", "public"),
    [
        ("body", "body", False),
        ("client_secret_post", "body", False),
        ("basic", "basic", False),
        ("client_secret_basic", "basic", False),
        ("none", "none", True),
    ],
)
def test_each_client_auth_name_is_read_as_the_plugins_method(
    pytester: pytest.Pytester, name: str, method: str, public: bool
) -> None:
    """The standard names (RFC 7591's token_endpoint_auth_method) are the same methods; none
    makes the configured identity a public client, which needs no client secret."""
    resolved_settings = resolved(pytester, f"--barapi-client-auth={name}")
    assert resolved_settings.client_auth == method
    identity = resolved_settings.identity
    assert identity.public_client is public
    needed = ["user", "password", "client_id"] + ([] if public else ["client_secret"])
    assert identity.missing() == needed
