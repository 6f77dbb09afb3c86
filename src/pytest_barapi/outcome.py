"""What deciding an identity's token yields: the token, or a :class:`Failure` saying why not.

One type travels from the exchange up through the cassette, the sharing between workers and the
broker to the fixtures; nothing is turned into a string and parsed back on the way. Both kinds
serialize to JSON-able data, so an outcome can be handed to another pytest-xdist worker.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from pytest_barapi.token import BarapiToken


@dataclass(frozen=True)
class Failure:
    """Why there is no token: a one-line message that names the cause and the setting to fix.

    The message never holds a secret (it is shown once per test that needs the token).
    ``refused`` is true when the token endpoint answered the grant with an OAuth error (a 4xx,
    RFC 6749 §5.2): the server saw the grant and said no, unlike a timeout or a 5xx. For a
    refresh grant, that is when one password grant instead can help.
    """

    message: str
    refused: bool = False

    def prefixed(self, prefix: str) -> Failure:
        """The same failure, its message read in a wider context (``renewing the token: …``)."""
        return replace(self, message=f"{prefix}{self.message}")

    def to_json(self) -> dict[str, Any]:
        return {"failure": self.message, "refused": self.refused}

    def __str__(self) -> str:
        return self.message


Outcome = BarapiToken | Failure


def to_json(outcome: Outcome) -> dict[str, Any]:
    """JSON-able data for ``outcome``, read back by :func:`from_json`."""
    if isinstance(outcome, Failure):
        return outcome.to_json()
    return {"token": outcome.to_json()}


def from_json(data: dict[str, Any]) -> Outcome:
    """The outcome :func:`to_json` made; ``ValueError`` for anything else."""
    try:
        if "failure" in data:
            return Failure(str(data["failure"]), refused=bool(data.get("refused", False)))
        return BarapiToken.from_json(data["token"])
    except (KeyError, TypeError) as error:
        raise ValueError(f"not a barapi outcome ({type(error).__name__})") from None
