"""What one pytest run holds for barapi: its settings, its secret registry, and its broker.

Kept in one stash key. A run that uses no barapi fixture pays only for the settings: the
masking is turned on once a secret can be known, and the broker (with requests, vcrpy and the
xdist sharing) is built when a test first needs a token. The registry
(:class:`~pytest_barapi.known_secrets.KnownSecrets`) is the run's one, shared by every module
that learns or masks a secret. :meth:`BarapiRun.message` is where a failure is worded for the
test that needs the token.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from pytest_barapi import settings as barapi_settings
from pytest_barapi.known_secrets import KnownSecrets

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from contextlib import AbstractContextManager
    from pathlib import Path

    from pytest_barapi.broker import TokenBroker
    from pytest_barapi.identity import Identity
    from pytest_barapi.keyring_and_prompt import SecretSources
    from pytest_barapi.outcome import Failure, Outcome
    from pytest_barapi.run_cassette import RunCassettes
    from pytest_barapi.session import BarapiSession
    from pytest_barapi.sharing import SharedOutcomes
    from pytest_barapi.token import BarapiToken

MASKING = "barapi-secret-masking"
# Whether stdin was a terminal when the run started, before pytest's capture replaced it.
stdin_is_a_terminal_key: pytest.StashKey[bool] = pytest.StashKey()


@dataclass
class BarapiRun:
    """The run's barapi state, and the way from an identity to its token and session."""

    config: pytest.Config
    settings: barapi_settings.Settings
    known_secrets: KnownSecrets = field(default_factory=KnownSecrets)
    _broker: TokenBroker | None = field(default=None, repr=False)
    _secret_sources: SecretSources | None = field(default=None, repr=False)
    _run_cassettes: RunCassettes | None = field(default=None, repr=False)
    # Under pytest-xdist, this worker's line to the controller, once looked for.
    _shared: SharedOutcomes | None = field(default=None, repr=False)
    _shared_looked_for: bool = field(default=False, repr=False)
    # Why masking could not be installed (the error's type), if it could not: said at the end.
    _unmasked: str | None = field(default=None, repr=False)
    # The fixtures wider than a test (session, package, module, class) being set up or torn
    # down, innermost last: their requests are the ones the cassette of the run records.
    _wider: list[WiderFixture] = field(default_factory=list, repr=False)

    def enter_beyond_tests(self, fixture: WiderFixture) -> None:
        """A fixture wider than a test starts its setup or teardown."""
        self._wider.append(fixture)

    def leave_beyond_tests(self) -> None:
        """A fixture wider than a test ends its setup or teardown."""
        self._wider.pop()

    def set_up_beyond_tests(self, fixture: WiderFixture) -> None:
        """A fixture wider than a test is set up: if this run uses barapi, its ``vcr_config``
        is read now, while the test that set it up is there to ask (its teardown may send
        requests, and comes when no test is)."""
        if self._broker is not None:
            # Not this fixture's failure: a request that needs it reads it again, and fails.
            with suppress(Exception, pytest.fail.Exception):
                fixture.vcr_config()

    @classmethod
    def start(cls, config: pytest.Config) -> BarapiRun:
        run = cls(config, barapi_settings.resolve(config))
        # Known from the start, not from the first exchange: a test can print a credential it
        # read from the environment before (or without) any token is asked for. An xdist
        # worker stays lazy: the controller read the same settings.
        run.know(run.settings.identity, tell_the_controller=False)
        return run

    def know(self, identity: Identity, *, tell_the_controller: bool = True) -> None:
        """Register the secrets of ``identity`` for masking, and mask from now on."""
        self.known_secrets.know_identity(identity)
        if self.known_secrets.values():
            self.mask_secrets(tell_the_controller=tell_the_controller)

    def token(self, identity: Identity) -> BarapiToken:
        """The current token of ``identity``; a test that needs it fails if there is none."""
        return self._token_or_fail(identity, self.broker().token(identity))

    def live_token(self, identity: Identity) -> BarapiToken:
        """A token barapi accepts, for a request that no cassette plays (never a replayed one);
        a test that needs it fails if there is none."""
        return self._token_or_fail(identity, self.broker().live_token(identity))

    def renew(self, identity: Identity, rejected: str, accepted: bool = False) -> BarapiToken:
        """A token in place of ``rejected``, which barapi just refused."""
        return self._token_or_fail(identity, self.broker().renew(identity, rejected, accepted))

    def session(self, identity: Identity) -> BarapiSession:
        """A new session that authenticates as ``identity`` (the caller closes it)."""
        from pytest_barapi.session import BarapiSession, BearerAuth, origin

        auth = BearerAuth(
            origin(self.settings.url),
            lambda: self.token(identity),
            lambda rejected, accepted: self.renew(identity, rejected, accepted),
            lambda: self.live_token(identity),
        )

        def recorded_apart(method: str, url: str) -> AbstractContextManager[None]:
            return self._recorded_apart(identity, method, url)

        return BarapiSession(self.settings.url, auth, self.settings.timeout, recorded_apart)

    def _recorded_apart(
        self, identity: Identity, method: str, url: str
    ) -> AbstractContextManager[None]:
        """The cassette of the run for a request of ``identity`` that a fixture wider than a
        test sends outside any test's cassette (see :mod:`pytest_barapi.run_cassette`);
        nothing to open for any other request, when the run records no token cassette, or
        under ``-p no:recording``: no test's cassette plays then, and a fixture replayed to
        live tests would hand them what the last recording created (a project since deleted)."""
        if not self._wider or not self._recording_loaded():
            return nullcontext()
        from pytest_barapi.open_cassette import any_open
        from pytest_barapi.token_cassette import cassette_path

        token_cassette = cassette_path(self.settings, identity)
        if token_cassette is None or any_open(url):
            return nullcontext()
        from pytest_barapi.run_cassette import path_of

        return self._in_run_cassette(
            identity, path_of(token_cassette), f"{method} {url}", self._wider[-1]
        )

    @contextmanager
    def _in_run_cassette(
        self, identity: Identity, path: Path, request: str, fixture: WiderFixture
    ) -> Iterator[None]:
        from pytest_barapi.outcome import Failure
        from pytest_barapi.run_cassette import NotKept, NotRecorded, RunCassettes

        if self._run_cassettes is None:
            self._run_cassettes = RunCassettes(
                self.settings.record_mode,
                # Under pytest-xdist two workers would each write their own requests only.
                may_record=not hasattr(self.config, "workerinput"),
                known=self.known_secrets,
            )
        try:
            with self._run_cassettes.around(
                path, request, fixture.vcr_config(), self._users_recording_configure, fixture.name
            ):
                yield
        except (NotRecorded, NotKept) as problem:
            failure = problem.args[0]
            assert isinstance(failure, Failure)
            _fail(self.message(identity, failure))

    def _users_recording_configure(self, vcr: Any) -> None:
        """What pytest-recording does to each test's ``VCR``, done to the cassette of the
        run's: the ``pytest_recording_configure`` hooks of the user's conftests and plugins
        (their matchers, serializers, persisters), but this plugin's, whose guard the cassette
        of the run already passes through."""
        manager = self.config.pluginmanager
        # The module itself, however it was loaded (the entry point, -p pytest_barapi.plugin).
        plugin = sys.modules.get("pytest_barapi.plugin")
        ours = [plugin] if plugin is not None and manager.is_registered(plugin) else []
        hook = manager.subset_hook_caller("pytest_recording_configure", remove_plugins=ours)
        hook(config=self.config, vcr=vcr)

    def message(self, identity: Identity, failure: Failure) -> str:
        """How a failure reads in a test: which identity, then what went wrong and, for each
        setting to fix, how the user sets it (``barapi_session_factory``'s argument where
        the factory gave it). The one place a failure is worded for the user."""
        worded = failure.worded(
            lambda setting: barapi_settings.where_to_set(
                setting.name, identity.given, missing=setting.missing, ini=setting.ini
            )
        )
        if identity == self.settings.identity:
            return f"barapi: {worded}"
        return f"barapi (barapi_session_factory, user {identity.user!r}): {worded}"

    def broker(self) -> TokenBroker:
        """The run's broker, built when a test first needs a token (see the module docstring)."""
        if self._broker is None:
            from pytest_barapi.broker import TokenBroker

            self.mask_secrets()
            shared = self._sharing()
            self._broker = TokenBroker(
                self.settings,
                known_secrets=self.known_secrets,
                sharing=shared,
                secret_sources=self.secret_sources(
                    shared.ask_a_person if shared else None,
                    shared.tell_where_found if shared else None,
                    shared.tell_waiting if shared else None,
                ),
                recording_loaded=self._recording_loaded(),
            )
        return self._broker

    def _recording_loaded(self) -> bool:
        """Whether pytest-recording is loaded (not under ``-p no:recording``), by its entry
        point's name or as ``-p pytest_recording.plugin``."""
        plugins = self.config.pluginmanager.get_plugins()
        return any(getattr(p, "__name__", None) == "pytest_recording.plugin" for p in plugins)

    def secret_sources(
        self,
        ask_elsewhere: Callable[[str, str], str | None] | None = None,
        tell_elsewhere: Callable[[str, str], None] | None = None,
        tell_waiting: Callable[[bool, float], None] | None = None,
    ) -> SecretSources:
        """Where this run finds a secret the settings leave unset (made on first use)."""
        if self._secret_sources is None:
            from pytest_barapi.keyring_and_prompt import for_this_run

            stdin_is_a_terminal = self.config.stash.get(stdin_is_a_terminal_key, False)
            self._secret_sources = for_this_run(
                self.settings.url,
                stdin_is_a_terminal,
                ask_elsewhere,
                self.settings.timeout,
                tell_elsewhere,
                tell_waiting,
            )
        return self._secret_sources

    def end(self) -> None:
        """The run is over, however it ended: the terminal as it was before any prompt."""
        sources = self._secret_sources
        if sources is not None:
            sources.terminal.give_back()
            sources.terminal.release_signals()

    def summary(self) -> list[str]:
        """The lines the run ends with: where the secrets the settings left unset came from,
        if any was looked up; that this process could not mask, if it could not."""
        lines = []
        sources = self._secret_sources
        if sources is not None and sources.found:
            found = ", ".join(f"{name} from the {where}" for name, where in sources.found.items())
            lines.append(f"barapi: {found}")
        if self._unmasked is not None:
            lines.append(
                f"barapi: could not mask the run's secrets in this process's output "
                f"({self._unmasked}); what it printed may show them. Please report this as a "
                "pytest-barapi bug."
            )
        return lines

    def _token_or_fail(self, identity: Identity, outcome: Outcome) -> BarapiToken:
        from pytest_barapi.outcome import Failure

        if isinstance(outcome, Failure):
            # No traceback: the same short message for every test that needs the token, and
            # no frame that saw the request body.
            _fail(self.message(identity, outcome))
        return outcome

    def _sharing(self) -> SharedOutcomes | None:
        """An xdist worker's line to the controller (None elsewhere), looked for once: from
        then on the controller learns every secret this worker knows, and masks it in what it
        prints."""
        if not self._shared_looked_for:
            self._shared_looked_for = True
            if hasattr(self.config, "workerinput"):  # an xdist worker: nothing to load else
                from pytest_barapi import sharing

                self._shared = sharing.for_worker(self.config, self.settings)
                if self._shared is not None:
                    self.known_secrets.forward_to(self._shared.tell_secrets)
        return self._shared

    def mask_secrets(self, *, tell_the_controller: bool = True) -> None:
        """Mask known secrets from now on, here and, from an xdist worker, in the controller
        (whatever registered the secret: a factory, ``barapi_mask``, the broker; with it, the
        worker tells every secret it knows). A run with no secret to know yet has nothing to
        mask, and does not pay for a hook around every report."""
        if tell_the_controller:
            self._sharing()
        if not self.config.pluginmanager.has_plugin(MASKING):
            from pytest_barapi.exits import SecretMasking

            try:
                masking = SecretMasking(self.known_secrets, self.config)
                self.config.pluginmanager.register(masking, MASKING)
            except Exception as error:
                # Under pytest-xdist this runs on the controller's thread for a worker's
                # messages, where an error would go unseen: the summary says it, whoever called.
                self._unmasked = type(error).__name__
                raise


@dataclass
class WiderFixture:
    """A fixture wider than a test, as its setup found it: ``request`` is its own."""

    request: pytest.FixtureRequest
    # Where the fixture is defined, as pytest's fixture definition says it (its baseid):
    # the directory of its conftest.py or its module, relative to the rootdir; "" for the
    # rootdir's conftest.py and for plugins.
    defined_in: str = ""
    _vcr_config: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """The fixture, as the cassette of the run names what it sent: its name, where it is
        defined but in the rootdir's conftest.py (two conftest.py files may each define a
        session fixture ``project``), and the module, package or class it is set up for:
        ``project from tests/api in tests/api/test_a.py``. Paths are the node IDs', relative
        to the rootdir: the same on every machine."""
        name = self.request.fixturename or ""
        if self.defined_in:
            name = f"{name} from {self.defined_in}"
        node = self.request.node.nodeid
        return f"{name} in {node}" if node else name

    def vcr_config(self) -> dict[str, Any]:
        """The user's ``vcr_config`` (pytest-recording's fixture, ``{}`` without it) as the
        test that set this fixture up sees it, the way pytest-recording's ``vcr`` fixture
        asks for it: the cassette of the run filters what the tests' cassettes filter. Read
        once, on first use."""
        if self._vcr_config is None:
            self._vcr_config = _vcr_config_of(self.request)
        return self._vcr_config


def _vcr_config_of(request: pytest.FixtureRequest) -> dict[str, Any]:
    # The test's own request: from the wider fixture's, pytest refuses a vcr_config of a
    # narrower scope (pytest-recording's own is function-scoped).
    item = getattr(request, "_pyfuncitem", None)
    asking = getattr(item, "_request", None) or request
    try:
        config = asking.getfixturevalue("vcr_config")
    except pytest.FixtureLookupError:  # no pytest-recording, and no vcr_config of the user's
        return {}
    return dict(config)


def _fail(message: str) -> NoReturn:
    # from None: raised while handling another error (a refused request), pytest would show
    # the message twice, chained to it ("During handling of the above exception ...").
    raise pytest.fail.Exception(message, pytrace=False) from None
