"""One exchange per identity per run: the outcome, token or error, is decided once and kept."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING

from pytest_barapi.errors import BarapiError, GrantRefused
from pytest_barapi.identity import Identity
from pytest_barapi.outcome import Failure, Outcome
from pytest_barapi.secrets import KnownSecrets
from pytest_barapi.settings import Settings
from pytest_barapi.token import BarapiToken

if TYPE_CHECKING:
    from pytest_barapi.sharing import SharedOutcomes

# A token is renewed this long before it expires (so a request never leaves with a token
# that dies on the way), but never earlier than its last tenth of life (short-lived tokens).
RENEW_BEFORE = 60.0
RENEW_FRACTION = 0.1


def renewal_margin(token: BarapiToken) -> float:
    """Seconds before expiry at which ``token`` is renewed."""
    return min(RENEW_BEFORE, (token.expires_in or 0) * RENEW_FRACTION)


@dataclass
class TokenBroker:
    """Hands out the token of each identity, exchanging at most once for it.

    A failure is kept as its message: every later caller gets the same error and no request
    is sent again (a wrong password must cost one request, not one per test). A token about
    to expire, or that barapi rejected, is renewed once (:meth:`renew`). Under pytest-xdist,
    ``sharing`` makes every decision once per run instead of once per worker. Every
    credential and token it handles is added to ``known_secrets`` for the report scrubber.
    """

    settings: Settings
    known_secrets: KnownSecrets = field(default_factory=KnownSecrets)
    sharing: SharedOutcomes | None = None
    _outcomes: dict[Identity, BarapiToken | str] = field(default_factory=dict, repr=False)
    # A test may use its session from several threads: one renewal, not one per thread.
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        # Known from the start, not from the first exchange: a test can print a credential
        # it read from the environment before (or without) any token is asked for.
        self._know(Identity.configured(self.settings))

    def token(self, identity: Identity) -> BarapiToken:
        """The current token of ``identity``, renewed first if it is about to expire."""
        with self._lock:
            outcome = self._outcomes.get(identity)
            if outcome is None:
                outcome = self._decide(identity, stale=None)
            # Also right after the first decision: a worker that starts late may find an
            # old token on the run's board of outcomes.
            if isinstance(outcome, BarapiToken) and _expiring(outcome):
                outcome = self._decide(identity, stale=outcome)
        return _token_or_raise(outcome)

    def renew(self, identity: Identity, rejected: str) -> BarapiToken:
        """A token to replace the access token barapi just rejected (401 ``invalid_token``).

        Renews only if ``rejected`` is still the current token: requests that failed with the
        same token share one renewal.
        """
        with self._lock:
            outcome = self._outcomes.get(identity)
            if outcome is None:
                outcome = self._decide(identity, stale=None)
            elif (
                isinstance(outcome, BarapiToken)
                # A replayed placeholder has nothing to renew with, and replay sends nothing:
                # the 401 goes back to the test as recorded.
                and not outcome.replayed
                and outcome.access_token == rejected
            ):
                outcome = self._decide(identity, stale=outcome)
        return _token_or_raise(outcome)

    def _decide(self, identity: Identity, stale: BarapiToken | None) -> BarapiToken | str:
        self._know(identity)
        if stale is None:
            work = partial(self._obtain, identity)
        else:
            work = partial(self._renew, identity, stale)
        if self.sharing is None:
            outcome = work()
        else:
            # Sharing speaks Outcome (token or Failure); this broker still keeps failures as text.
            shared = self.sharing.decide(identity, lambda: _as_outcome(work()), stale)
            outcome = shared if isinstance(shared, BarapiToken) else str(shared)
        if isinstance(outcome, BarapiToken):
            self.known_secrets.add(outcome.access_token, outcome.refresh_token)
        self._outcomes[identity] = outcome
        return outcome

    def _know(self, identity: Identity) -> None:
        self.known_secrets.add_pair(identity.user, identity.password)
        self.known_secrets.add_pair(identity.client_id, identity.client_secret)

    def _obtain(self, identity: Identity) -> BarapiToken | str:
        """The once-per-run work for an identity: its token, or why there is none."""
        if self.settings.cassette is not None:
            # The cassette decides: replay (no credentials needed), or go live and record.
            from pytest_barapi.cassette import through_cassette

            # A remote worker's recording would stay on its machine, where nobody looks.
            record_here = self.sharing is None or self.sharing.may_record
            return through_cassette(self.settings, identity, self._live, record_here=record_here)
        return self._live(identity)

    def _live(self, identity: Identity) -> BarapiToken | str:
        missing = identity.missing()
        if missing:
            return "missing credentials, no request sent: set " + ", ".join(missing)
        return self._exchange(identity)

    def _exchange(self, identity: Identity) -> BarapiToken | str:
        from pytest_barapi.exchange import post_grant

        try:
            return post_grant(
                self.settings.token_url,
                identity.password_grant(),
                timeout=self.settings.timeout,
                secrets=identity.secrets(),
            )
        except BarapiError as error:
            return str(error)

    def _renew(self, identity: Identity, stale: BarapiToken) -> BarapiToken | str:
        """RFC 6749 §6 with the same client; if refused, one password grant instead."""
        from pytest_barapi.exchange import post_grant

        if stale.refresh_token:
            try:
                renewed = post_grant(
                    self.settings.token_url,
                    identity.refresh_grant(stale.refresh_token),
                    timeout=self.settings.timeout,
                    secrets=[*identity.secrets(), stale.access_token, stale.refresh_token],
                )
            except GrantRefused:
                pass  # a revoked or expired refresh token: one password grant instead
            except BarapiError as error:
                return f"renewing the token failed: {error}"
            else:
                # A server that does not rotate may leave the refresh token out (§6): keep ours.
                if renewed.refresh_token is None:
                    renewed = replace(renewed, refresh_token=stale.refresh_token)
                return renewed
        outcome = self._exchange(identity)
        if isinstance(outcome, str):
            return f"renewing the token failed: {outcome}"
        return outcome


def _expiring(token: BarapiToken) -> bool:
    # expires_in <= 0 is a server that cannot be helped ahead of time: renewing before every
    # request would not make its tokens last; the 401 path still renews them.
    if token.replayed or not token.expires_in or token.expires_in <= 0:
        return False
    return token.expires_within(renewal_margin(token))


def _as_outcome(outcome: BarapiToken | str) -> Outcome:
    return Failure(outcome) if isinstance(outcome, str) else outcome


def _token_or_raise(outcome: BarapiToken | str) -> BarapiToken:
    if isinstance(outcome, str):
        raise BarapiError(outcome)
    return outcome
