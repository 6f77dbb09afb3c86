"""pytest wiring only: options, hooks and fixtures. Each concern lives in its own module.

A run that uses no barapi fixture should not pay for them: at start-up only the settings and
the secrets registry are imported. The broker (with the identity, token and xdist-sharing
modules) is built when a test first needs a token, and requests, vcrpy and filelock come
later still. ``tests/test_howto_pay_nothing_when_unused.py`` holds this in place.

PYTEST_DONT_REWRITE: loaded at start-up, where pytest would rewrite its asserts for nothing.
"""

from __future__ import annotations

import warnings
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from pytest_barapi import settings as barapi_settings
from pytest_barapi.secrets import KnownSecrets

if TYPE_CHECKING:
    from pytest_barapi.broker import TokenBroker
    from pytest_barapi.errors import BarapiError
    from pytest_barapi.identity import Identity
    from pytest_barapi.secrets import Secret
    from pytest_barapi.session import BarapiSession, SessionFactory
    from pytest_barapi.token import BarapiToken

FIXTURES = frozenset({"barapi_token", "barapi_session", "barapi_session_factory"})
# Annotated, not subscripted (``StashKey[Settings]()``): typing caches each subscription, and
# a cached alias of one of our classes makes the interpreter's exit measurably slower (its
# last garbage collections walk more), for a plain 300-test run about 0.5% of the total.
settings_key: pytest.StashKey[barapi_settings.Settings] = pytest.StashKey()
known_secrets_key: pytest.StashKey[KnownSecrets] = pytest.StashKey()
broker_key: pytest.StashKey[TokenBroker] = pytest.StashKey()
sharing_planned_key: pytest.StashKey[bool] = pytest.StashKey()
MASKING = "barapi-secret-masking"


def pytest_addoption(parser: pytest.Parser) -> None:
    barapi_settings.add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "barapi: the test uses a barapi fixture (added automatically)."
    )
    settings = barapi_settings.resolve(config)
    for option in barapi_settings.secrets_in_ini(config):
        config.issue_config_time_warning(
            pytest.PytestConfigWarning(
                f"barapi: {option.ini} is set in an ini file ({config.inipath}), which tends "
                f"to get committed; set the {option.env} environment variable instead."
            ),
            stacklevel=2,
        )
    config.stash[settings_key] = settings
    known = config.stash[known_secrets_key] = KnownSecrets()
    # Known from the start, not from the first exchange: a test can print a credential it
    # read from the environment before (or without) any token is asked for.
    known.add_pair(settings.user, settings.password)
    known.add_pair(settings.client_id, settings.client_secret)
    if known.values():
        _mask_secrets(config)


def _mask_secrets(config: pytest.Config) -> None:
    """Mask known secrets from now on. Called as soon as one can be known: at start-up if a
    credential is configured, else when the broker is built (before any token arrives). A run
    with neither has nothing to mask, and does not pay for a hook around every report."""
    if not config.pluginmanager.has_plugin(MASKING):
        config.pluginmanager.register(
            SecretMasking(config.stash[known_secrets_key], config), MASKING
        )


def _broker(config: pytest.Config) -> TokenBroker:
    """The run's broker, built when a test first needs a token (see the module docstring)."""
    broker = config.stash.get(broker_key, None)
    if broker is None:
        from pytest_barapi import sharing
        from pytest_barapi.broker import TokenBroker

        settings = config.stash[settings_key]
        _mask_secrets(config)
        broker = TokenBroker(
            settings,
            known_secrets=config.stash[known_secrets_key],
            sharing=sharing.for_worker(config, settings),
        )
        config.stash[broker_key] = broker
    return broker


class SecretMasking:
    """Masks known secrets in reports, warnings, log output and --debug traces, before
    anything prints or serializes them (the work is in :mod:`pytest_barapi.scrubbing`)."""

    def __init__(self, known: KnownSecrets, config: pytest.Config) -> None:
        from pytest_barapi.scrubbing import Scrubber

        self.scrubber = Scrubber(known)
        self.scrubber.mask_trace(config.pluginmanager.trace.root)
        # pytest's logging plugin exists from its own (trylast) pytest_configure on: when
        # this is registered mid-run, there is no pytest_sessionstart to wait for.
        logging_plugin = config.pluginmanager.get_plugin("logging-plugin")
        if logging_plugin is not None:
            self.scrubber.mask_log_output(logging_plugin)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        logging_plugin = session.config.pluginmanager.get_plugin("logging-plugin")
        self.scrubber.mask_log_output(logging_plugin)

    # tryfirst wrappers are the outermost: the masking comes after every other plugin has
    # finished the report, and before any reporter (terminal, junitxml, xdist) reads it.
    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_makereport(self) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        self.scrubber.scrub_report(report)
        return report

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_make_collect_report(
        self,
    ) -> Generator[None, pytest.CollectReport | None, pytest.CollectReport | None]:
        report = yield
        if report is not None:
            self.scrubber.scrub_report(report)
        return report

    # A historic hook takes no wrapper; tryfirst still runs before the reporters' impls.
    @pytest.hookimpl(tryfirst=True)
    def pytest_warning_recorded(self, warning_message: warnings.WarningMessage) -> None:
        self.scrubber.scrub_warning(warning_message)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist controller: a local worker learns where the run shares its tokens."""
    from pytest_barapi import sharing

    sharing.plan(node.config, node)
    node.config.stash[sharing_planned_key] = True


def pytest_unconfigure(config: pytest.Config) -> None:
    # On the controller, after every worker has finished.
    if config.stash.get(sharing_planned_key, False):
        from pytest_barapi import sharing

        sharing.remove(config)


def pytest_report_header(config: pytest.Config) -> str:
    return config.stash[settings_key].header()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # tryfirst: the marker must be there before `-m "not barapi"` deselects.
    for item in items:
        if FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker("barapi")


@pytest.hookimpl(optionalhook=True)
def pytest_recording_configure(config: pytest.Config, vcr: Any) -> None:
    # barapi_session puts the bearer token on every API call: every cassette that
    # pytest-recording writes drops Authorization, whatever the user's vcr_config filters.
    from pytest_barapi.cassette import drop_authorization

    drop_authorization(vcr)


def _token(config: pytest.Config, identity: Identity) -> BarapiToken:
    from pytest_barapi.errors import BarapiError

    try:
        return _broker(config).token(identity)
    except BarapiError as error:
        message = _message(config, identity, error)
    # Raised outside the except block and without a traceback: the same short message for
    # every test that needs the token, and no frame that saw the request body.
    pytest.fail(message, pytrace=False)


def _renewed(config: pytest.Config, identity: Identity, rejected: str) -> BarapiToken:
    from pytest_barapi.errors import BarapiError

    try:
        return _broker(config).renew(identity, rejected)
    except BarapiError as error:
        message = _message(config, identity, error)
    pytest.fail(message, pytrace=False)


def _message(config: pytest.Config, identity: Identity, error: BarapiError) -> str:
    if identity == _configured(config):
        return f"barapi: {error}"
    return f"barapi (barapi_session_factory, user {identity.user!r}): {error}"


def _configured(config: pytest.Config) -> Identity:
    from pytest_barapi.identity import Identity

    return Identity.configured(config.stash[settings_key])


def _session(config: pytest.Config, identity: Identity) -> BarapiSession:
    from pytest_barapi.session import BarapiSession, BearerAuth, origin

    settings = config.stash[settings_key]
    auth = BearerAuth(
        origin(settings.url),
        lambda: _token(config, identity),
        lambda rejected: _renewed(config, identity, rejected),
    )
    return BarapiSession(settings.url, auth, settings.timeout)


@pytest.fixture(scope="session")
def barapi_token(pytestconfig: pytest.Config) -> BarapiToken:
    """The barapi access token: one OAuth password-grant exchange per run, shared by all tests.

    Has ``access_token``, ``token_type``, ``expires_in``, ``refresh_token`` and
    ``expires_at``; its repr hides the tokens. If the exchange fails, every test that needs
    it errors with the same message and no further request is sent. Under pytest-xdist the
    exchange is shared by all local workers. This is the token as first obtained;
    ``barapi_session`` follows renewals.
    """
    return _token(pytestconfig, _configured(pytestconfig))


@pytest.fixture(scope="session")
def barapi_session(
    pytestconfig: pytest.Config, barapi_token: BarapiToken
) -> Iterator[BarapiSession]:
    """A ``requests.Session`` for barapi, authenticated with ``barapi_token``.

    ``barapi_session.get("/v1/me")`` resolves against the base URL; each request carries
    ``Authorization: Bearer ...`` and the timeout; idempotent requests are retried on
    connection errors and 502/503/504. The token is renewed shortly before it expires, and
    once when barapi answers 401 ``invalid_token`` (the request is then sent once more).
    Closed at the end of the run.
    """
    with _session(pytestconfig, _configured(pytestconfig)) as session:
        yield session


@pytest.fixture(scope="session")
def barapi_session_factory(pytestconfig: pytest.Config) -> Iterator[SessionFactory]:
    """Sessions like ``barapi_session``, for other identities.

    ``barapi_session_factory(user="bob@example.com", password=..., scope="read")``; any of
    ``user``, ``password``, ``scope``, ``client_id`` and ``client_secret`` left out is the
    configured value. Each identity is exchanged once per run (shared across pytest-xdist
    workers) and its failure is kept like its token; the same identity gives the same session.
    Passwords and client secrets are wrapped in ``Secret`` at once. Closed at the end of the run.
    """
    sessions: dict[Identity, BarapiSession] = {}

    def session_as(
        *,
        user: str | None = None,
        password: str | Secret | None = None,
        scope: str | None = None,
        client_id: str | None = None,
        client_secret: str | Secret | None = None,
    ) -> BarapiSession:
        identity = _configured(pytestconfig).overridden(
            user=user,
            password=password,
            scope=scope,
            client_id=client_id,
            client_secret=client_secret,
        )
        if identity not in sessions:
            _token(pytestconfig, identity)  # exchange now: a failure errors at this call
            sessions[identity] = _session(pytestconfig, identity)
        return sessions[identity]

    try:
        yield session_as
    finally:
        for session in sessions.values():
            session.close()
