"""One exchange per identity per run: the outcome, token or error, is decided once and kept."""

from __future__ import annotations

from dataclasses import dataclass, field

from pytest_barapi.errors import BarapiError
from pytest_barapi.identity import Identity
from pytest_barapi.settings import Settings
from pytest_barapi.token import BarapiToken


@dataclass
class TokenBroker:
    """Hands out the token of each identity, exchanging at most once for it.

    A failure is kept as its message: every later caller gets the same error and no request
    is sent again (a wrong password must cost one request, not one per test).
    """

    settings: Settings
    _outcomes: dict[Identity, BarapiToken | str] = field(default_factory=dict)

    def token(self, identity: Identity) -> BarapiToken:
        if identity not in self._outcomes:
            self._outcomes[identity] = self._exchange(identity)
        outcome = self._outcomes[identity]
        if isinstance(outcome, str):
            raise BarapiError(outcome)
        return outcome

    def _exchange(self, identity: Identity) -> BarapiToken | str:
        missing = identity.missing()
        if missing:
            return "missing credentials, no request sent: set " + ", ".join(missing)
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
