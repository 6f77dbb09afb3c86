"""Every barapi setting, resolved in one place: CLI > env > ini > default, with its source.

The options are declared once (:data:`OPTIONS`); the CLI flag, ini key and env var of each are
derived from its name, so the three can never drift apart. How a user sets each one, for the
advice of any message, is :func:`where_to_set`'s. Each value is checked here, the base URL
included (:func:`checked_url`), and a value that cannot work is a :class:`pytest.UsageError`.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from pytest_barapi.identity import BODY, CLIENT_AUTHS, NONE, STANDARD_CLIENT_AUTHS, Identity
from pytest_barapi.secrets import Secret

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

TOKEN_PATH = "/oauth/token"


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
            "base URL of barapi; the token endpoint is <url> followed by the token path.",
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
        Option(
            "client_auth",
            "how the client authenticates to the token endpoint: body (client_id and "
            "client_secret in the form, as barapi documents; also client_secret_post), basic "
            "(HTTP Basic; also client_secret_basic) or none (a public client: client_id in "
            "the form, no secret).",
            BODY,
        ),
        Option(
            "token_path",
            "path of the token endpoint, joined to the URL (a path in the URL stays).",
            TOKEN_PATH,
        ),
    )
}
FACTORY = "barapi_session_factory"


def where_to_set(
    name: str, given: Collection[str] = (), *, missing: bool = False, ini: bool = False
) -> str:
    """How the user sets the setting ``name``, for the advice of a message: its option
    (``--barapi-user / BARAPI_USER``, and its ini key after them if ``ini``: a setting a
    project keeps in its ini file), or the ``barapi_session_factory`` argument in ``given``
    it came from. A credential a factory call left out is the configured one, so when it is
    ``missing``, either would do."""
    argument = f"{FACTORY}({name}=...)"
    if name in given:
        return argument
    option = OPTIONS[name].where()
    if ini:
        option = f"{option} / {OPTIONS[name].ini} (ini)"
    if given and missing:
        return f"{argument} or {option}"
    return option


# The settings of the token endpoint itself, shown after the credentials in the header.
ENDPOINT = ("client_auth", "token_path")
# Longer than any exchange can sensibly wait, short enough for every clock and socket API.
LONGEST_TIMEOUT = 24 * 3600.0


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
    # The configured credentials and scope: who barapi_token and barapi_session are for.
    identity: Identity
    timeout: float
    cassette: Path | None
    sources: Mapping[str, str]
    # pytest-recording's switches, so one flag controls every cassette of the run.
    record_mode: str = "none"
    recording_disabled: bool = False
    # How a standard OAuth server other than barapi may want the client and the endpoint.
    client_auth: str = BODY
    token_path: str = TOKEN_PATH

    @property
    def token_url(self) -> str:
        # Joined, not resolved: a URL with a path prefix keeps it (https://host/prefix/o/token/).
        return self.url + self.token_path

    @property
    def uses_cassettes(self) -> bool:
        """Whether the run records and replays barapi's cassettes: one is configured and
        ``--disable-recording`` is not given (then every exchange is live)."""
        return self.cassette is not None and not self.recording_disabled

    def any_set(self) -> bool:
        """Whether any barapi option is set (CLI, env or ini) rather than left at its default."""
        return any(source != "default" for source in self.sources.values())

    def header(self) -> str:
        def shown(name: str) -> str:
            value = getattr(self.identity, name)
            source = self.sources[name]
            if name == "client_secret" and self.client_auth == NONE:
                # Never sent, never asked for: say so, rather than "not set".
                ignored = f"set ({source}) but " if value else ""
                return f"{name}: {ignored}not sent (public client)"
            if OPTIONS[name].secret:
                return f"{name}: set ({source})" if value else f"{name}: not set"
            return f"{name}: {value or '-'} ({source})"

        names = ("user", "client_id", "password", "client_secret", "scope")
        parts = [f"url: {self.url} ({self.sources['url']})", *(shown(name) for name in names)]
        parts += [f"{name}: {getattr(self, name)} ({self.sources[name]})" for name in ENDPOINT]
        parts.append(f"timeout: {self.timeout:g}s ({self.sources['timeout']})")
        if self.cassette is not None:
            mode = "disabled" if self.recording_disabled else self.record_mode
            source = self.sources["cassette"]
            parts.append(f"cassette: {self.cassette} ({source}, record mode {mode})")
        return "barapi: " + ", ".join(parts)


def secrets_in_ini(config: pytest.Config) -> list[Option]:
    """Secret options written in the ini file, used or not (a CLI flag or env var may win):
    the file is what gets committed."""
    return [option for option in OPTIONS.values() if option.secret and config.getini(option.ini)]


def warn_about_secrets_in_ini(config: pytest.Config) -> None:
    """One warning per secret written in the ini file, shown at its line there."""
    for option in secrets_in_ini(config):
        warning = pytest.PytestConfigWarning(
            f"barapi: {option.ini} is set in an ini file ({config.inipath}), which tends "
            f"to get committed; set the {option.env} environment variable instead."
        )
        path = config.inipath
        if path is None:  # set with -o, not in a file
            config.issue_config_time_warning(warning, stacklevel=2)
            continue
        # pytest shows a config-time warning at the frame that issued it; a frame compiled as
        # line N of the ini file points the user there (as Jinja does for its templates).
        # Its source line, the secret in clear, is masked like any warning's.
        lineno = _line_of(path, option.ini)
        code = compile("\n" * (lineno - 1) + "warn(warning, stacklevel=2)", str(path), "exec")
        exec(code, {"warn": config.issue_config_time_warning, "warning": warning})


def _line_of(path: Path, key: str) -> int:
    """The line of ``path`` that sets ``key`` (ini or toml syntax), or 1."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return 1
    setting = re.compile(rf"\s*{re.escape(key)}\s*[=:]")
    return next((n for n, line in enumerate(lines, 1) if setting.match(line)), 1)


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
    client_auth = _checked_client_auth(raw["client_auth"] or "", sources["client_auth"])
    return Settings(
        url=checked_url(raw["url"] or "", sources["url"]),
        identity=Identity(
            user=raw["user"],
            password=secret("password"),
            client_id=raw["client_id"],
            client_secret=secret("client_secret"),
            scope=raw["scope"] or "",
            public_client=client_auth == NONE,
        ),
        timeout=_checked_timeout(raw["timeout"] or "", sources["timeout"]),
        cassette=Path(config.rootpath, cassette) if cassette else None,
        sources=sources,
        # pytest-recording owns these flags; without it (-p no:recording) we replay only.
        record_mode=config.getoption("record_mode", None) or "none",
        recording_disabled=bool(config.getoption("disable_recording", False)),
        client_auth=client_auth,
        token_path=_checked_token_path(raw["token_path"] or "", sources["token_path"]),
    )


def _checked_timeout(text: str, source: str) -> float:
    try:
        timeout = float(text)
    except ValueError:
        timeout = math.nan
    # nan, inf and 1e400 parse as floats: none of them is a time to wait.
    if not (math.isfinite(timeout) and 0 < timeout <= LONGEST_TIMEOUT):
        raise pytest.UsageError(
            f"barapi: {OPTIONS['timeout'].where()} (from {source}) must be a positive number "
            f"of seconds, at most {LONGEST_TIMEOUT:g} (a day); got {text!r}"
        )
    return timeout


def _checked_client_auth(text: str, source: str) -> str:
    """The method ``text`` names, by the plugin's name (a standard name is read as its
    equal: client_secret_post is body)."""
    if text not in CLIENT_AUTHS and text not in STANDARD_CLIENT_AUTHS:
        names = [*CLIENT_AUTHS, *(name for name in STANDARD_CLIENT_AUTHS if name != NONE)]
        allowed = ", ".join(names[:-1]) + " or " + names[-1]
        raise pytest.UsageError(
            f"barapi: {OPTIONS['client_auth'].where()} (from {source}) must be {allowed}; "
            f"got {text!r}"
        )
    return STANDARD_CLIENT_AUTHS.get(text, text)


def _checked_token_path(path: str, source: str) -> str:
    # Appended to the URL as it is: anything but a plain path would change what it means
    # (a query, a fragment) or how a server reads it (a backslash, a space).
    if (
        not path.startswith("/")
        or any(character in path for character in "?#\\")
        or any(character.isspace() for character in path)
    ):
        raise pytest.UsageError(
            f"barapi: {OPTIONS['token_path'].where()} (from {source}) must be a path starting "
            f"with /, without query, fragment, backslash or whitespace, like /oauth/token; "
            f"got {path!r}"
        )
    return path


# The check of the base URL: no URL that could send the password to another host than it
# names. urllib.parse checks the URL, while requests connects where urllib3 reads the host:
# only URLs the two read alike are accepted, and plain http only to a loopback host. It runs
# at start-up with the settings, so it does without urllib3 and requests.

LOOPBACK_NAMES = {"localhost"}
# barapi's own host (the default URL's): a URL on it, or on a name under it
# (staging.barapi.cloud), is barapi's; any other is a token server the user chose.
BARAPI_HOST = "barapi.cloud"
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
    where = f"{OPTIONS['url'].where()} (from {source})"
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
            f"{OPTIONS['user'].where()} and {OPTIONS['password'].where()} instead"
        )
    if "?" in url or "#" in url:
        return (
            "must not have a query string or fragment (?... or #...): the token endpoint "
            f"is <url> followed by the token path; got {shown}"
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


def server_called(url: str) -> str:
    """What messages call the server at ``url``: "barapi" on barapi's own host (or a name
    under it), "the token server" anywhere else (the message names the URL)."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    barapi = host == BARAPI_HOST or host.endswith("." + BARAPI_HOST)
    return "barapi" if barapi else "the token server"


def _is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
