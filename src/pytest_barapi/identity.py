"""Who the exchange authenticates as: a user and a client, with their secrets kept masked."""

from __future__ import annotations

from dataclasses import dataclass

from pytest_barapi.secrets import Secret
from pytest_barapi.settings import CREDENTIALS, OPTIONS, Settings


@dataclass(frozen=True)
class Identity:
    """The inputs of one password grant. Hashable, so each identity is exchanged once."""

    user: str | None
    password: Secret | None
    client_id: str | None
    client_secret: Secret | None
    scope: str = ""

    @classmethod
    def configured(cls, settings: Settings) -> Identity:
        return cls(
            user=settings.user,
            password=settings.password,
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            scope=settings.scope,
        )

    def overridden(
        self,
        *,
        user: str | None = None,
        password: str | Secret | None = None,
        client_id: str | None = None,
        client_secret: str | Secret | None = None,
        scope: str | None = None,
    ) -> Identity:
        """This identity with each given credential replaced; ``None`` keeps the current one.

        Passwords and client secrets given as text are wrapped in :class:`Secret` at once.
        """
        return Identity(
            user=self.user if user is None else user,
            password=self.password if password is None else _secret(password),
            client_id=self.client_id if client_id is None else client_id,
            client_secret=self.client_secret if client_secret is None else _secret(client_secret),
            scope=self.scope if scope is None else scope,
        )

    def missing(self) -> list[str]:
        """``--barapi-user / BARAPI_USER``-style names of each credential that is not set."""
        return [OPTIONS[name].where() for name in CREDENTIALS if not getattr(self, name)]

    def password_grant(self) -> dict[str, str]:
        """The form body of RFC 6749 §4.3, exactly as barapi's API page shows it."""
        assert self.password is not None
        assert self.client_secret is not None
        return {
            "grant_type": "password",
            "client_id": self.client_id or "",
            "client_secret": self.client_secret.reveal(),
            "username": self.user or "",
            "password": self.password.reveal(),
            "scope": self.scope,
        }

    def refresh_grant(self, refresh_token: str) -> dict[str, str]:
        """The form body of RFC 6749 §6, authenticated with the same client credentials.

        No ``scope``: omitted, it means "the scope originally granted" (§6), which is what we
        want. Sent empty, some servers read it as no scope at all (oauthlib reads ``scope=``
        as ``[""]``), and sending the configured scope again is refused by a server that
        granted less.
        """
        assert self.client_secret is not None
        return {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": self.client_id or "",
            "client_secret": self.client_secret.reveal(),
        }

    def secrets(self) -> list[str]:
        return [s.reveal() for s in (self.password, self.client_secret) if s]


def _secret(value: str | Secret) -> Secret:
    return value if isinstance(value, Secret) else Secret(value)
