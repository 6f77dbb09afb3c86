"""Who the exchange authenticates as: a user and a client, with their secrets kept masked."""

from __future__ import annotations

from dataclasses import dataclass

from pytest_barapi.secrets import Secret
from pytest_barapi.settings import OPTIONS, Settings


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

    def missing(self) -> list[str]:
        """``--barapi-user / BARAPI_USER``-style names of each credential that is not set."""
        names = ("user", "password", "client_id", "client_secret")
        return [OPTIONS[name].where() for name in names if not getattr(self, name)]

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
        """The form body of RFC 6749 §6, authenticated with the same client credentials."""
        assert self.client_secret is not None
        return {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": self.client_id or "",
            "client_secret": self.client_secret.reveal(),
            "scope": self.scope,
        }

    def secrets(self) -> list[str]:
        return [s.reveal() for s in (self.password, self.client_secret) if s]
