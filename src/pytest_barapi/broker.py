"""One exchange per identity per run: the broker decides each outcome once and keeps it.

The broker is the only orchestrator: it asks the token cassette to load, replay or record
(a replay's grant goes through the broker to the exchange, like any other), the exchange
module to send a grant, and, under pytest-xdist, the sharing module to make each decision
once per run. None of them imports the broker; the sharing module is handed the broker's work
(a callable) and runs it when the turn to decide is this worker's. Each token, and each
secret the keyring or the prompt gives, is handed to the run's secret registry.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING

from pytest_barapi import token_cassette as cassette
from pytest_barapi.exchange import RETRIES, post_grant
from pytest_barapi.identity import Identity
from pytest_barapi.known_secrets import KnownSecrets
from pytest_barapi.outcome import Failure, Outcome, Part, Setting
from pytest_barapi.settings import Settings
from pytest_barapi.token import BarapiToken

if TYPE_CHECKING:
    from pathlib import Path

    from pytest_barapi.keyring_and_prompt import SecretSources
    from pytest_barapi.sharing import SharedOutcomes
    from pytest_barapi.token_cassette import Recorded

# A token is renewed this long before it expires (so a request never leaves with a token
# that dies on the way), but never earlier than its last tenth of life (short-lived tokens).
RENEW_BEFORE = 60.0
RENEW_FRACTION = 0.1
RENEWING = "renewing the token failed: "
# What a live token beside a replayed one is shared as under pytest-xdist.
LIVE = "live"


def renewal_margin(token: BarapiToken) -> float:
    """Seconds before expiry at which ``token`` is renewed."""
    return min(RENEW_BEFORE, (token.expires_in or 0) * RENEW_FRACTION)


@dataclass
class TokenBroker:
    """Hands out the token of each identity, exchanging at most once for it.

    A failure is kept like a token: every later caller gets the same failure and no request
    is sent again (a wrong password must cost one request, not one per test). A token about
    to expire, or that barapi rejected, is renewed once (:meth:`renew`). Under pytest-xdist,
    ``sharing`` makes every decision once per run instead of once per worker. Each token is
    added to ``known_secrets`` as it arrives, for the masker.
    """

    settings: Settings
    known_secrets: KnownSecrets
    sharing: SharedOutcomes | None = None
    # Where a secret the settings leave unset is looked up when a grant needs it.
    secret_sources: SecretSources | None = None
    # False under -p no:recording: what a request no cassette plays is told to do differs.
    recording_loaded: bool = True
    _outcomes: dict[Identity, Outcome] = field(default_factory=dict, repr=False)
    # A test may use its session from several threads: one renewal, not one per thread.
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # The access token each identity got by renewing one barapi rejected. If barapi rejects
    # that one too, the token is not the problem, and renewing again would cost a grant per
    # API call: the 401 goes back to the test instead.
    _renewed_on_rejection: dict[Identity, str] = field(default_factory=dict, repr=False)
    # The live token of an identity whose token is replayed, for the requests no cassette
    # plays (see live_token): decided once per run like the replayed one, kept apart from it.
    _live: dict[Identity, Outcome] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._masker = self.known_secrets.masker()

    def token(self, identity: Identity) -> Outcome:
        """The current token of ``identity`` (renewed first if it is about to expire), or why
        there is none."""
        with self._lock:
            outcome = self._outcomes.get(identity)
            if outcome is None:
                outcome = self._decide(identity, stale=None)
            # Also right after the first decision: a worker that starts late may be handed
            # an old token by the others (held on the controller's board of outcomes).
            if isinstance(outcome, BarapiToken) and _expiring(outcome):
                outcome = self._decide(identity, stale=outcome)
            return outcome

    def live_token(self, identity: Identity) -> Outcome:
        """A token barapi accepts, for a request of ``identity`` that no cassette plays.

        The same as :meth:`token` unless that token is a replayed placeholder, which barapi
        rejects: then one live exchange for the run (shared by the pytest-xdist workers), kept
        beside the replayed token, which the recorded calls keep sending. Without credentials,
        why the request cannot leave, and what to do instead.
        """
        current = self.token(identity)
        if not (isinstance(current, BarapiToken) and current.replayed):
            return current
        with self._lock:
            outcome = self._live.get(identity)
            if outcome is None:
                outcome = self._decide(identity, stale=None, live=True)
            if isinstance(outcome, BarapiToken) and _expiring(outcome):
                outcome = self._decide(identity, stale=outcome, live=True)
            return outcome

    def renew(self, identity: Identity, rejected: str, accepted: bool = False) -> Outcome:
        """A token to replace the access token barapi just rejected (401 ``invalid_token``).

        Renews only if ``rejected`` is still the current token (requests that failed with the
        same token share one renewal), and was not itself the renewal of a rejected token that
        barapi never ``accepted`` (an API that rejects every token costs one renewal, not one
        per call; a renewed token that worked and was revoked later is renewed again).
        Otherwise the current token comes back, and the caller keeps the 401. Beside a
        replayed token, a rejected live token (:meth:`live_token`) is renewed alike.
        """
        with self._lock:
            outcome = self._outcomes.get(identity)
            if outcome is None:
                return self._decide(identity, stale=None)
            live = self._live.get(identity)
            if live is not None and not _sent(outcome, rejected):
                # Rejected beside a replay: the live token (see live_token) is the one to renew.
                return self._renewed(identity, live, rejected, accepted, live=True)
            return self._renewed(identity, outcome, rejected, accepted, live=False)

    def _renewed(
        self, identity: Identity, outcome: Outcome, rejected: str, accepted: bool, live: bool
    ) -> Outcome:
        if (
            isinstance(outcome, BarapiToken)
            # A replayed placeholder has nothing to renew with, and replay sends nothing:
            # the 401 goes back to the test as recorded.
            and not outcome.replayed
            and outcome.access_token == rejected
            and (accepted or self._renewed_on_rejection.get(identity) != rejected)
        ):
            outcome = self._decide(identity, stale=outcome, live=live)
            if isinstance(outcome, BarapiToken):
                self._renewed_on_rejection[identity] = outcome.access_token
        return outcome

    def _decide(self, identity: Identity, stale: BarapiToken | None, live: bool = False) -> Outcome:
        if stale is not None:
            work = partial(self._renew, identity, stale)
        elif live:
            work = partial(self._live_grant, identity)
        else:
            work = partial(self._obtain, identity)
        # Token endpoint traffic belongs to the token cassettes only, never to the cassette of
        # the test that happens to be running (a renewal, a factory called in a test body).
        with cassette.apart_from_open_cassettes():
            if self.sharing is None:
                outcome = work()
            else:
                outcome = self.sharing.decide(identity, work, stale, purpose=LIVE if live else "")
        self._know(outcome)  # also one another worker decided
        (self._live if live else self._outcomes)[identity] = outcome
        return outcome

    def _know(self, outcome: Outcome) -> None:
        if isinstance(outcome, BarapiToken):
            self.known_secrets.know_token(outcome)

    def _obtain(self, identity: Identity) -> Outcome:
        """The once-per-run work for an identity: replayed, recorded, or live."""
        path = cassette.cassette_path(self.settings, identity)
        if path is None:
            return self._password_grant(identity)
        if not cassette.records_afresh(self.settings):
            recorded = cassette.load(self.settings, path, identity)
            if isinstance(recorded, Failure):
                return recorded
            if recorded is not None:
                if cassette.needs_a_live_token(self.settings, identity):
                    # New API cassettes are being recorded: they need a token barapi accepts.
                    return self._password_grant(identity)
                # Replay needs no credentials and sends nothing.
                return self.replay(identity, path, recorded)
            not_recorded = cassette.not_recorded(self.settings, path)
            if not_recorded is not None:
                return not_recorded
        return self._record(identity, path)

    def _record(self, identity: Identity, path: Path) -> Outcome:
        if self.sharing is not None and not self.sharing.may_record:
            # A remote worker's recording would stay on its machine, where nobody looks.
            return cassette.not_recorded_here(self.settings, path)
        completed = self._completed(identity)
        if isinstance(completed, Failure):
            return completed
        missing = completed.missing()
        if missing:
            return cassette.credentials_missing(self.settings, path, _unset(missing))
        with cassette.recording(self.settings, completed, path, self.known_secrets) as recording:
            # Known before the file is scanned: the scan looks for every secret the run knows.
            outcome = recording.keep(self._password_grant(completed))
        return recording.outcome(outcome)

    def _live_grant(self, identity: Identity) -> Outcome:
        """A live token beside a replayed one: a password grant, never recorded."""
        completed = self._completed(identity)
        if isinstance(completed, Failure):  # the keyring did not answer, say
            return completed
        missing = completed.missing()
        if missing:
            path = cassette.cassette_path(self.settings, identity)
            if path is not None:  # always: a token is replayed from it
                return cassette.not_played(
                    self.settings, path, _unset(missing), self.recording_loaded
                )
            return Failure(("missing credentials, no request sent: set ", *_unset(missing)))
        return self._password_grant(completed)

    def _password_grant(self, identity: Identity) -> Outcome:
        completed = self._completed(identity)
        if isinstance(completed, Failure):
            return completed
        missing = completed.missing()
        if missing:
            return Failure(("missing credentials, no request sent: set ", *_unset(missing)))
        outcome = self._post(completed.password_grant())
        self._know(outcome)
        return outcome

    def _renew(self, identity: Identity, stale: BarapiToken) -> Outcome:
        """RFC 6749 §6 with the same client; if refused, one password grant instead."""
        if stale.refresh_token:
            completed = self._completed(identity)
            if isinstance(completed, Failure):
                return completed.prefixed(RENEWING)
            renewed = self._post(completed.refresh_grant(stale.refresh_token))
            if isinstance(renewed, BarapiToken):
                # A server that does not rotate may leave the refresh token out (§6): keep ours.
                if renewed.refresh_token is None:
                    renewed = replace(renewed, refresh_token=stale.refresh_token)
                return renewed
            if not renewed.refused:
                return renewed.prefixed(RENEWING)
            # A revoked or expired refresh token: one password grant instead.
        outcome = self._password_grant(identity)
        return outcome.prefixed(RENEWING) if isinstance(outcome, Failure) else outcome

    def _completed(self, identity: Identity) -> Identity | Failure:
        """``identity`` with the secrets the settings left unset, from the keyring or a prompt
        (asked once: the sources remember their answers); a failure if the keyring did not
        answer in time."""
        if self.secret_sources is None or not identity.missing():
            return identity
        completed = self.secret_sources.complete(identity)
        self.known_secrets.know_identity(completed)  # masked before it is ever sent
        silent = self.secret_sources.keyring_silent_on(completed)
        if silent:
            return Failure(
                (
                    f"the keyring did not answer within {self.settings.timeout:g}s (",
                    Setting("timeout"),
                    "), no request sent: set ",
                    *_unset(silent),
                    " instead, or unlock the keyring",
                )
            )
        return completed

    def replay(self, identity: Identity, path: Path, recorded: Recorded) -> Outcome:
        """The token recorded in ``path`` for ``identity``: a placeholder only the recorded API
        calls accept. Needs no credentials, sends nothing, and tries once: a retry could only
        be refused by vcrpy ("already played back"), hiding what the recording holds."""
        # The token is built as the answer arrives, so its lifetime counts from now: however
        # old the cassette, the replayed token is not born expired (and so not renewed).
        # The client is authenticated as recorded, if the ini says so; either way the
        # header is not matched on.
        with cassette.replaying(path, recorded):
            outcome = self._post(cassette.placeholders_of(identity).password_grant(), retries=0)
        return replace(outcome, replayed=True) if isinstance(outcome, BarapiToken) else outcome

    def _post(self, form: dict[str, str], retries: int = RETRIES) -> Outcome:
        return post_grant(
            self.settings.token_url,
            form,
            timeout=self.settings.timeout,
            masker=self._masker,
            client_auth=self.settings.client_auth,
            retries=retries,
        )


def _unset(missing: list[str]) -> tuple[Part, ...]:
    """The credentials in ``missing``, for a failure that asks to set them."""
    parts: list[Part] = []
    for name in missing:
        parts += [", ", Setting(name, missing=True)] if parts else [Setting(name, missing=True)]
    return tuple(parts)


def _sent(outcome: Outcome, access_token: str) -> bool:
    return isinstance(outcome, BarapiToken) and outcome.access_token == access_token


def _expiring(token: BarapiToken) -> bool:
    # expires_in <= 0 is a server that cannot be helped ahead of time: renewing before every
    # request would not make its tokens last; the 401 path still renews them.
    if token.replayed or not token.expires_in or token.expires_in <= 0:
        return False
    return token.expires_within(renewal_margin(token))
