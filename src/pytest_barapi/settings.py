"""Every barapi setting, resolved in one place: CLI > env > ini > default, with its source.

The options are declared once (:data:`OPTIONS`); the CLI flag, ini key and env var of each are
derived from its name, so the three can never drift apart.

PYTEST_DONT_REWRITE: loaded at start-up, where pytest would rewrite its asserts for nothing.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from pytest_barapi.secrets import Secret

if TYPE_CHECKING:
    from collections.abc import Mapping


@dataclass(frozen=True)
class Option:
    name: str
    help: str
    default: str | None = None
    secret: bool = False

    @property
    def flag(self) -> str:
        return "--barapi-" + self.name.replace("_", "-")

    @property
    def ini(self) -> str:
        return "barapi_" + self.name

    @property
    def env(self) -> str:
        return "BARAPI_" + self.name.upper()

    def where(self) -> str:
        """How a user sets this option, for error messages: ``--barapi-user / BARAPI_USER``."""
        return f"{self.flag} / {self.env}"


OPTIONS = {
    option.name: option
    for option in (
        Option(
            "url",
            "base URL of barapi; the token endpoint is <url>/oauth/token.",
            "https://barapi.cloud",
        ),
        Option("user", "user name for the password grant."),
        Option("password", "password for the password grant (prefer the env var).", secret=True),
        Option("client_id", "OAuth client id."),
        Option("client_secret", "OAuth client secret (prefer the env var).", secret=True),
        Option("scope", "space-separated scopes to ask for.", ""),
        Option("timeout", "seconds to wait for barapi, per request and for the exchange.", "30"),
        Option(
            "cassette",
            "cassette file that records and replays the token exchange "
            "(relative to the rootdir); unset: always exchange live.",
        ),
    )
}
CREDENTIALS = ("user", "password", "client_id", "client_secret")
LOOPBACK_NAMES = {"localhost"}


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("barapi", "barapi token exchange and session")
    for option in OPTIONS.values():
        # No default here: argparse would show it in --help, and the env var is read later,
        # so --help never prints a value taken from the environment.
        default = f" Default: {option.default!r}." if option.default is not None else ""
        group.addoption(
            option.flag,
            dest=option.ini,
            metavar=option.name.upper(),
            help=f"{option.help}{default} Env: {option.env}; ini: {option.ini}.",
        )
        parser.addini(option.ini, f"barapi: {option.help}", default=None)


@dataclass(frozen=True)
class Settings:
    url: str
    user: str | None
    password: Secret | None
    client_id: str | None
    client_secret: Secret | None
    scope: str
    timeout: float
    cassette: Path | None
    sources: Mapping[str, str]
    # pytest-recording's switches, so one flag controls every cassette of the run.
    record_mode: str = "none"
    recording_disabled: bool = False

    @property
    def token_url(self) -> str:
        return self.url + "/oauth/token"

    def header(self) -> str:
        def shown(name: str) -> str:
            value = getattr(self, name)
            source = self.sources[name]
            if OPTIONS[name].secret:
                return f"{name}: set ({source})" if value else f"{name}: not set"
            return f"{name}: {value if value is not None else '-'} ({source})"

        names = ("url", "user", "client_id", "password", "client_secret")
        parts = [shown(name) for name in names]
        if self.cassette is not None:
            mode = "disabled" if self.recording_disabled else self.record_mode
            source = self.sources["cassette"]
            parts.append(f"cassette: {self.cassette} ({source}, record mode {mode})")
        return "barapi: " + ", ".join(parts)


def secrets_in_ini(config: pytest.Config) -> list[Option]:
    """Secret options written in the ini file, used or not (a CLI flag or env var may win):
    the file is what gets committed."""
    return [option for option in OPTIONS.values() if option.secret and config.getini(option.ini)]


def _raw(config: pytest.Config, option: Option) -> tuple[str | None, str]:
    value = config.getoption(option.ini)
    if value is not None:
        return value, "cli"
    # An empty env var counts as unset: CI systems expand a missing secret to "".
    value = os.environ.get(option.env) or None
    if value is not None:
        return value, "env"
    value = config.getini(option.ini) or None
    if value is not None:
        return str(value), "ini"
    return option.default, "default"


def resolve(config: pytest.Config) -> Settings:
    """Read every option once; raise :class:`pytest.UsageError` for values that cannot work."""
    raw = {}
    sources = {}
    for name, option in OPTIONS.items():
        raw[name], sources[name] = _raw(config, option)

    def secret(name: str) -> Secret | None:
        value = raw[name]
        return Secret(value) if value else None

    cassette = raw["cassette"]
    return Settings(
        url=_checked_url(raw["url"] or "", sources["url"]),
        user=raw["user"],
        password=secret("password"),
        client_id=raw["client_id"],
        client_secret=secret("client_secret"),
        scope=raw["scope"] or "",
        timeout=_checked_timeout(raw["timeout"] or "", sources["timeout"]),
        cassette=Path(config.rootpath, cassette) if cassette else None,
        sources=sources,
        # pytest-recording owns these flags; without it (-p no:recording) we replay only.
        record_mode=config.getoption("record_mode", None) or "none",
        recording_disabled=bool(config.getoption("disable_recording", False)),
    )


def _checked_url(url: str, source: str) -> str:
    where = f"{OPTIONS['url'].where()} (from {source})"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise pytest.UsageError(
            f"barapi: {where} must be an http(s) URL with a host, like https://barapi.cloud; "
            f"got {url!r}"
        )
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise pytest.UsageError(
            f"barapi: {where} is plain http to {parts.hostname!r}: a password only travels "
            "over https (http is allowed for loopback: 127.0.0.0/8, ::1, localhost)"
        )
    return url.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _checked_timeout(text: str, source: str) -> float:
    try:
        timeout = float(text)
    except ValueError:
        timeout = 0.0
    if not timeout > 0:
        raise pytest.UsageError(
            f"barapi: {OPTIONS['timeout'].where()} (from {source}) must be a positive number "
            f"of seconds; got {text!r}"
        )
    return timeout
