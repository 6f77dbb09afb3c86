"""pytest wiring only: options, hooks and fixtures. Each concern lives in its own module.

A run that uses no barapi fixture should not pay for them: at start-up only the settings (with
the identity and :class:`~pytest_barapi.secrets.Secret`), the secret registry and the run
state are imported. The broker (with the token, exchange and
xdist-sharing modules) is built when a test first needs a token, and requests and vcrpy come
with it. ``tests/test_howto_pay_nothing_when_unused.py`` holds this in place.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from pytest_barapi import settings as barapi_settings
from pytest_barapi.known_secrets import MASKED
from pytest_barapi.run import BarapiRun, WiderFixture, stdin_is_a_terminal_key

if TYPE_CHECKING:
    from pytest_barapi.identity import Identity
    from pytest_barapi.secrets import Secret
    from pytest_barapi.session import BarapiSession, SessionFactory
    from pytest_barapi.token import BarapiToken

FIXTURES = frozenset({"barapi_token", "barapi_session", "barapi_session_factory"})
# Annotated, not subscripted (``StashKey[BarapiRun]()``): typing caches each subscription, and
# a cached alias of one of our classes makes the interpreter's exit measurably slower (its
# last garbage collections walk more), for a plain 300-test run about 0.5% of the total.
run_key: pytest.StashKey[BarapiRun] = pytest.StashKey()


def pytest_addoption(parser: pytest.Parser) -> None:
    barapi_settings.add_options(parser)


# tryfirst wrapper: before pytest's capture (started in this hook) replaces stdin.
@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> Generator[None, None, None]:
    early_config.stash[stdin_is_a_terminal_key] = bool(sys.stdin and sys.stdin.isatty())
    return (yield)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "barapi: the test uses a barapi fixture (added automatically)."
    )
    if config.option.help or config.option.version:
        # Whatever BARAPI_* holds, --help and --version work: they run no test.
        return
    run = config.stash[run_key] = BarapiRun.start(config)
    if run.settings.uses_cassettes:
        config.pluginmanager.register(_WiderFixturesFramed(run), "barapi-wider-fixtures")
    barapi_settings.warn_about_secrets_in_ini(config)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist controller: each worker, local or remote, gets a line to the run's
    in-memory board of outcomes (see :mod:`pytest_barapi.outcome_board`)."""
    run = node.config.stash.get(run_key, None)
    if run is None:
        # A config pytest never configured (pytest-xdist's own tests build a NodeManager from
        # one): no barapi run to connect.
        return
    from pytest_barapi import outcome_board

    # The person at this terminal answers for the workers, which have none: a worker may need
    # a password whatever is set (one given to barapi_session_factory without it). Made here,
    # on the main thread: the prompt waits on another, and signals are only caught from this one.
    sources = run.secret_sources()
    # At a terminal, whatever stdin is (``pytest -n 2 < /dev/null``): a worker's keyring may
    # prompt there.
    if sources.at_a_terminal():
        sources.terminal.catch_signals()
        # Before the workers start: a worker's keyring may prompt on this terminal.
        sources.terminal.as_it_is()
    # The secrets the workers learn pass through here: the controller masks them in what it
    # prints, from the first one a worker tells it.
    outcome_board.connect(node.config, node, run.known_secrets, sources, on_secret=run.mask_secrets)


def pytest_unconfigure(config: pytest.Config) -> None:
    run = config.stash.get(run_key, None)
    if run is not None:
        run.end()


def pytest_report_header(config: pytest.Config) -> str:
    return config.stash[run_key].settings.header()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    for line in config.stash[run_key].summary():
        terminalreporter.write_line(line)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    # tryfirst: the marker must be there before `-m "not barapi"` deselects.
    marker = pytest.mark.barapi  # made once: by name, each item would look it up again
    for item in items:
        if FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(marker)
    if config.option.markexpr:
        from pytest_barapi import marking

        # What -m cannot see: a fixture asked for at run time, refused to that test only.
        marking.refuse_unseen(session, FIXTURES)


@pytest.hookimpl(optionalhook=True)
def pytest_recording_configure(config: pytest.Config, vcr: Any) -> None:
    # barapi_session puts the bearer token on every API call: every cassette pytest-recording
    # writes loses barapi's secrets, read by structure, and nothing else; it is scanned before
    # it is kept.
    from pytest_barapi import cassette_guard

    cassette_guard.watch(config, config.stash[run_key].known_secrets, vcr)


@pytest.hookimpl(tryfirst=True)
def pytest_fixture_setup(fixturedef: Any, request: pytest.FixtureRequest) -> None:
    if fixturedef.argname != "vcr":
        return  # every fixture of every run passes here: the cheapest test first
    # Under --record-mode=rewrite, pytest-recording's `vcr` fixture deletes the test's cassette
    # before the test records a new one; kept here first, a refused recording gives it back.
    # It is autouse: a test without a `vcr` mark loads nothing more here.
    module = getattr(fixturedef.func, "__module__", None) or ""
    if module.startswith("pytest_recording") and request.node.get_closest_marker("vcr"):
        from pytest_barapi import cassette_guard

        config = request.config
        cassette_guard.remember(config, config.stash[run_key].known_secrets, request)


class _WiderFixturesFramed:
    """Registered only in a run that uses barapi's cassettes: a run without them leaves the
    user's fixtures as they are, and pays for no hook wrapper around each of them."""

    def __init__(self, run: BarapiRun) -> None:
        self.run = run

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_fixture_setup(
        self, fixturedef: Any, request: pytest.FixtureRequest
    ) -> Generator[None, Any, Any]:
        if fixturedef.scope == "function":
            return (yield)
        # The requests of a fixture wider than a test, in its setup and its teardown, go to
        # the cassette of the run (see pytest_barapi.run_cassette). Its teardown runs among
        # the fixture's finalizers, last added first: one before the setup and one after
        # frame it.
        run = self.run
        fixture = WiderFixture(request, defined_in=fixturedef.baseid)
        fixturedef.addfinalizer(run.leave_beyond_tests)
        run.enter_beyond_tests(fixture)
        try:
            result = yield
            run.set_up_beyond_tests(fixture)
            return result
        finally:
            run.leave_beyond_tests()
            fixturedef.addfinalizer(functools.partial(run.enter_beyond_tests, fixture))


@pytest.fixture(scope="session")
def barapi_token(pytestconfig: pytest.Config) -> BarapiToken:
    """The barapi access token: one OAuth password-grant exchange per run, shared by all tests.

    Has ``access_token``, ``token_type``, ``expires_in``, ``refresh_token`` and
    ``expires_at``; its repr hides the tokens. If the exchange fails, every test that needs
    it errors with the same message and no further request is sent. Under pytest-xdist the
    exchange is shared by all local workers. This is the token as first obtained;
    ``barapi_session`` follows renewals.
    """
    run = pytestconfig.stash[run_key]
    return run.token(run.settings.identity)


@pytest.fixture(scope="session")
def barapi_session(
    pytestconfig: pytest.Config, barapi_token: BarapiToken
) -> Iterator[BarapiSession]:
    """A ``requests.Session`` for barapi, authenticated with ``barapi_token``.

    ``barapi_session.get("/v1/me")`` resolves against the base URL; each request carries
    ``Authorization: Bearer ...`` and the timeout; idempotent requests are retried on
    connection errors and 502/503/504. The token is renewed shortly before it expires, and
    once when barapi answers 401 ``invalid_token`` (the request is then sent once more). In a
    replay, a request that no cassette plays gets a live token, never the replayed placeholder.
    Closed at the end of the run.
    """
    run = pytestconfig.stash[run_key]
    with run.session(run.settings.identity) as session:
        yield session


@pytest.fixture(scope="session")
def barapi_mask(pytestconfig: pytest.Config) -> Callable[[str], None]:
    """Masks a value the test got by itself, from now on and for the rest of the run.

    ``barapi_mask(value)`` adds ``value`` to the secrets the run masks, like a CI system's
    add-mask: a second client's token from the API, a signed URL, a one-time code. Everything
    pytest prints or writes after the call (the report of this test included) shows it as
    ``********``, in every form the run's own secrets are masked in. Under pytest-xdist the
    worker that added it tells the controller, which masks it too. A value shorter than 8
    characters is masked only where it stands as a whole value, and the run says so (never
    showing it).
    """
    run = pytestconfig.stash[run_key]

    def mask(value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"barapi_mask takes a str, not {type(value).__name__}")
        run.known_secrets.add(value, kind=MASKED)
        run.mask_secrets()

    return mask


@pytest.fixture(scope="session")
def barapi_session_factory(pytestconfig: pytest.Config) -> Iterator[SessionFactory]:
    """Sessions like ``barapi_session``, for other identities.

    ``barapi_session_factory(user="bob@example.com", password=..., scope="read")``; any of
    ``user``, ``password``, ``scope``, ``client_id`` and ``client_secret`` left out is the
    configured value. Each identity is exchanged once per run (shared across pytest-xdist
    workers) and its failure is kept like its token; the same identity gives the same session.
    Passwords and client secrets are wrapped in ``Secret`` at once. Closed at the end of the run.
    """
    run = pytestconfig.stash[run_key]
    sessions: dict[Identity, BarapiSession] = {}

    def session_as(**credentials: str | Secret | None) -> BarapiSession:
        identity = run.settings.identity.overridden(**credentials)  # type: ignore[arg-type]
        identity = identity.given_by_factory(credentials)
        if identity not in sessions:
            run.know(identity)
            run.token(identity)  # exchange now: a failure errors at this call
            sessions[identity] = run.session(identity)
        return sessions[identity]

    try:
        yield session_as
    finally:
        for session in sessions.values():
            session.close()
