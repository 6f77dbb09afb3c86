"""What deciding an identity's token yields: the token, or a :class:`Failure` saying why not.

One type travels from the exchange up through the cassette, the sharing between workers and the
broker to the fixtures; nothing is turned into a string and parsed back on the way. A failure
is data: what happened, in plain text; the settings it concerns (:class:`Setting`), named
only when it is worded, since a setting given to ``barapi_session_factory`` is fixed by its
argument; and what the server sent (:class:`Received`, masked). :meth:`Failure.worded` is the
one place a failure becomes a message; :meth:`pytest_barapi.run.BarapiRun.message` words it
for the test that needs the token. Both kinds of outcome serialize to JSON-able data, so an
outcome can be handed to another pytest-xdist worker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pytest_barapi.settings import where_to_set
from pytest_barapi.token import BarapiToken


@dataclass(frozen=True)
class Setting:
    """A setting a failure concerns, by its name in :data:`~pytest_barapi.settings.OPTIONS`.

    ``missing``: a credential left unset, which either the factory's argument or the setting
    would give. ``ini``: a setting a project keeps in its ini file (the scope), named with its
    ini key too.
    """

    name: str
    missing: bool = False
    ini: bool = False


@dataclass(frozen=True)
class Received:
    """What the server sent, as a failure quotes it (masked, cut short)."""

    text: str


Part = str | Setting | Received
# How a setting is called in the message: ``--barapi-user / BARAPI_USER``, or the factory's
# argument that gave it.
Naming = Callable[[Setting], str]


def _by_option(setting: Setting) -> str:
    return where_to_set(setting.name, missing=setting.missing, ini=setting.ini)


class Failure:
    """Why there is no token: what happened, the settings to fix, what was received.

    ``what`` is the message in parts: plain text, :class:`Setting` and :class:`Received`
    (plain text alone is a message that names no setting). It never holds a secret (it is
    shown once per test that needs the token). ``refused`` is true when the token endpoint
    answered the grant with an OAuth error (a 4xx, RFC 6749 §5.2, or a 200 carrying an error
    code): the server saw the grant and said no, unlike a timeout or a 5xx. For a refresh
    grant, that is when one password grant instead can help. Two failures are equal when they
    read the same and are refused alike.
    """

    __slots__ = ("refused", "what")

    def __init__(self, what: str | tuple[Part, ...], refused: bool = False) -> None:
        self.what: tuple[Part, ...] = (what,) if isinstance(what, str) else tuple(what)
        self.refused = refused

    @property
    def concerns(self) -> tuple[Setting, ...]:
        """The settings the failure's advice names."""
        return tuple(part for part in self.what if isinstance(part, Setting))

    @property
    def received(self) -> tuple[str, ...]:
        """What the server sent, as the failure quotes it."""
        return tuple(part.text for part in self.what if isinstance(part, Received))

    def worded(self, naming: Naming = _by_option) -> str:
        """The one-line message: each setting called as ``naming`` says."""
        words = []
        for part in self.what:
            if isinstance(part, Setting):
                words.append(naming(part))
            elif isinstance(part, Received):
                words.append(part.text)
            else:
                words.append(part)
        return "".join(words)

    @property
    def message(self) -> str:
        """The message, each setting called by its option."""
        return self.worded()

    def prefixed(self, prefix: str) -> Failure:
        """The same failure, read in a wider context (``renewing the token failed: …``)."""
        return Failure((prefix, *self.what), self.refused)

    def to_json(self) -> dict[str, Any]:
        return {"failure": [_part_to_json(part) for part in self.what], "refused": self.refused}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Failure:
        parts = tuple(_part_from_json(part) for part in data["failure"])
        return cls(parts, bool(data.get("refused", False)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Failure):
            return NotImplemented
        return (self.message, self.refused) == (other.message, other.refused)

    def __hash__(self) -> int:
        return hash((self.message, self.refused))

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"Failure({self.message!r}, refused={self.refused})"


def _part_to_json(part: Part) -> Any:
    if isinstance(part, Setting):
        return {"setting": part.name, "missing": part.missing, "ini": part.ini}
    if isinstance(part, Received):
        return {"received": part.text}
    return part


def _part_from_json(data: Any) -> Part:
    if isinstance(data, str):
        return data
    if "setting" in data:
        return Setting(str(data["setting"]), bool(data["missing"]), bool(data.get("ini")))
    return Received(str(data["received"]))


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
            return Failure.from_json(data)
        return BarapiToken.from_json(data["token"])
    except (KeyError, TypeError) as error:
        raise ValueError(f"not a barapi outcome ({type(error).__name__})") from None
