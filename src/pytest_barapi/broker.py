"""One exchange per identity per run: the outcome, token or error, is decided once and kept."""

from __future__ import annotations

from dataclasses import dataclass, field

from pytest_barapi.errors import BarapiError
from pytest_barapi.identity import Identity
from pytest_barapi.secrets import KnownSecrets
from pytest_barapi.settings import Settings
from pytest_barapi.token import BarapiToken


@dataclass
class TokenBroker:
    """Hands out the token of each identity, exchanging at most once for it.

    A failure is kept as its message: every later caller gets the same error and no request
    is sent again (a wrong password must cost one request, not one per test). Every
    credential and token it handles is added to ``known_secrets`` for the report scrubber.
    """

    settings: Settings
    known_secrets: KnownSecrets = field(default_factory=KnownSecrets)
    _outcomes: dict[Identity, BarapiToken | str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        # Known from the start, not from the first exchange: a test can print a credential
        # it read from the environment before (or without) any token is asked for.
        self._know(Identity.configured(self.settings))

    def token(self, identity: Identity) -> BarapiToken:
        if identity not in self._outcomes:
            self._know(identity)
            outcome = self._obtain(identity)
            if isinstance(outcome, BarapiToken):
                self.known_secrets.add(outcome.access_token, outcome.refresh_token)
            self._outcomes[identity] = outcome
        outcome = self._outcomes[identity]
        if isinstance(outcome, str):
            raise BarapiError(outcome)
        return outcome

    def _know(self, identity: Identity) -> None:
        self.known_secrets.add_pair(identity.user, identity.password)
        self.known_secrets.add_pair(identity.client_id, identity.client_secret)

    def _obtain(self, identity: Identity) -> BarapiToken | str:
        """The once-per-run work for an identity: its token, or why there is none."""
        if self.settings.cassette is not None:
            # The cassette decides: replay (no credentials needed), or go live and record.
            from pytest_barapi.cassette import through_cassette

            return through_cassette(self.settings, identity, self._live)
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
