"""The token a successful exchange yields: immutable, and silent about its secrets."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from pytest_barapi import clock

# A lifetime longer than this is as good as "never expires", and is cut to it: datetime ends
# at year 9999 and a float at 1e308, and a token's repr must never fail on a server's number.
LONGEST_LIFETIME = 10 * 365 * 24 * 3600


@dataclass(frozen=True, repr=False)
class BarapiToken:
    """An OAuth 2 bearer token, as the token endpoint sent it.

    ``expires_in`` is the server's figure (cut to :data:`LONGEST_LIFETIME`, either way), or
    None if it sent none; ``obtained_at`` is the epoch second the answer arrived, so
    ``expires_at`` is when the token stops working.
    """

    access_token: str
    token_type: str
    expires_in: int | None
    refresh_token: str | None = None
    scope: str | None = None
    obtained_at: float = field(default_factory=clock.now)
    # From a cassette: a placeholder that only the recorded API calls accept, never renewed.
    replayed: bool = False

    def __post_init__(self) -> None:
        if self.expires_in is not None and abs(self.expires_in) > LONGEST_LIFETIME:
            longest = LONGEST_LIFETIME if self.expires_in > 0 else -LONGEST_LIFETIME
            object.__setattr__(self, "expires_in", longest)

    @property
    def expires_at(self) -> datetime | None:
        if self.expires_in is None:
            return None
        return datetime.fromtimestamp(self.obtained_at + self.expires_in, tz=timezone.utc)

    def expires_within(self, seconds: float) -> bool:
        if self.expires_in is None:
            return False
        return clock.now() + seconds >= self.obtained_at + self.expires_in

    @property
    def authorization(self) -> str:
        """The value of the ``Authorization`` header (RFC 6750 spells the scheme ``Bearer``)."""
        return f"Bearer {self.access_token}"

    def to_json(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_in": self.expires_in,
            "refresh_token": self.refresh_token,
            "scope": self.scope,
            "obtained_at": self.obtained_at,
            "replayed": self.replayed,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BarapiToken:
        return cls(**data)

    def __repr__(self) -> str:
        expires = self.expires_at.isoformat(timespec="seconds") if self.expires_at else "never"
        refresh = ", refresh_token=<hidden>" if self.refresh_token else ""
        replayed = ", replayed=True" if self.replayed else ""
        return (
            f"BarapiToken(token_type={self.token_type!r}, expires_at={expires}, "
            f"access_token=<hidden>{refresh}{replayed})"
        )

    __str__ = __repr__
