"""The run's secret registry: what is secret, and the one masker that finds it.

Every value the run must never show is registered here, and only here decides which fields
of what it sees are secret: the credentials of an identity (:meth:`KnownSecrets.know_identity`),
the tokens of a token (:meth:`~KnownSecrets.know_token`) or of a token answer
(:meth:`~KnownSecrets.know_answer`), and a token an unexpected answer carries
(:meth:`~KnownSecrets.know_carried`). Other modules hand it what they saw and ask it for
:meth:`~KnownSecrets.masker`, the one :class:`~pytest_barapi.masking.Masker` of the run; a
masker of a single value (to name which secret a text shows, or to put its placeholder in)
comes from :func:`masker_of`. Under pytest-xdist a worker forwards each entry to the
controller's registry (:meth:`~KnownSecrets.forward_to`), kind included, so the controller
masks what only a worker learnt (a factory's password, a keyring answer, a token, a value
given to ``barapi_mask``), from the first secret the worker knows.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pytest_barapi.secrets import Secret

if TYPE_CHECKING:
    from pytest_barapi.identity import Identity
    from pytest_barapi.masking import Masker
    from pytest_barapi.token import BarapiToken

# The fields of a token answer that hold a token, each the kind of the secret it holds.
TOKEN_KINDS = ("access_token", "refresh_token", "id_token")
# A token in an answer we do not accept (a 201, a BOM before the JSON, a JSON array, a form):
# it is still a live token, and nothing may show it.
CARRIED_TOKEN = re.compile(
    r"""["']?(?:access_token|refresh_token|id_token)["']?\s*[:=]\s*["']?([^"'&\s,}]+)"""
)

# The kind of a value the user gave to ``barapi_mask``: a secret by the user's word.
MASKED = "value given to barapi_mask"

# One entry of the registry, as it travels to the controller: the value, its kind (or None),
# and the name it travels with in HTTP Basic (or None).
Entry = tuple[str, "str | None", "str | None"]


class KnownSecrets:
    """Every secret value this run has seen: credentials, and each token as it arrives.

    What the masker masks. Values are added, never removed: a renewed token does not make
    the old one safe to print. Name/secret pairs are kept too, because an HTTP Basic header
    carries them together, base64-encoded, where neither shows on its own. A value may say
    what ``kind`` of secret it is (the name of its field in a grant or a token answer:
    ``password``, ``access_token``...), so that a cassette can put a placeholder in its place.
    """

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pairs: set[tuple[str, str]] = set()
        self._kinds: dict[str, str] = {}
        self._version = 0
        self._masker: Masker | None = None
        self._forward: Callable[[list[Entry]], None] | None = None
        # Log lines are masked on whatever thread logs them, while a token may be arriving.
        self._lock = threading.Lock()

    @property
    def version(self) -> int:
        """Changes whenever a value or pair is added: what is built from them is stale."""
        return self._version

    def know_identity(self, identity: Identity) -> None:
        """The secrets of ``identity``: its password and client secret, each with its name."""
        for kind, name, secret in identity.secret_fields():
            self.add_pair(name, secret, kind=kind)

    def know_token(self, token: BarapiToken) -> None:
        """The access and refresh tokens of ``token``."""
        self.add(token.access_token, kind="access_token")
        self.add(token.refresh_token, kind="refresh_token")

    def know_answer(self, answer: Mapping[str, Any]) -> None:
        """Every token a token answer (its JSON object) carries."""
        for kind in TOKEN_KINDS:
            if answer.get(kind) is not None:
                self.add(str(answer[kind]), kind=kind)

    def know_carried(self, text: str) -> None:
        """Every token ``text`` carries, in whatever answer it came (JSON or not)."""
        self.add(*CARRIED_TOKEN.findall(text))

    def add(self, *values: str | Secret | None, kind: str | None = None) -> None:
        for value in values:
            text = value.reveal() if isinstance(value, Secret) else value
            if text:
                self._add(text, kind, None)

    def add_pair(
        self, name: str | None, secret: str | Secret | None, kind: str | None = None
    ) -> None:
        """A ``name:secret`` pair (client id and secret, user and password) and its secret."""
        text = secret.reveal() if isinstance(secret, Secret) else secret
        if text:
            self._add(text, kind, name or None)

    def _add(self, text: str, kind: str | None, name: str | None) -> None:
        with self._lock:
            new = False
            if kind is not None and text not in self._kinds:
                self._kinds[text] = kind
                new = True
            if text not in self._values:
                self._values.add(text)
                self._version += 1
                new = True
            if name and (name, text) not in self._pairs:
                self._pairs.add((name, text))
                self._version += 1
                new = True
            forward = self._forward if new else None
        if forward is not None:
            forward([(text, kind, name)])

    def learn(self, entries: list[Entry]) -> None:
        """Entries another process of the run forwarded (:meth:`forward_to`)."""
        for value, kind, name in entries:
            if isinstance(value, str) and value:
                self._add(value, kind if isinstance(kind, str) else None, name or None)

    def entries(self) -> list[Entry]:
        """Every entry, as :meth:`learn` takes them."""
        with self._lock:
            named = {text: name for name, text in self._pairs}
            entries: list[Entry] = [
                (text, self._kinds.get(text), named.get(text)) for text in self._values
            ]
            entries += [(text, self._kinds.get(text), name) for name, text in self._pairs]
        return entries

    def forward_to(self, send: Callable[[list[Entry]], None]) -> None:
        """Hand every entry, now and from now on, to ``send`` (a worker's line to the
        controller's registry)."""
        with self._lock:
            self._forward = send
        send(self.entries())

    def values(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._values)

    def pairs(self) -> frozenset[tuple[str, str]]:
        with self._lock:
            return frozenset(self._pairs)

    def kinds(self) -> dict[str, str]:
        """What each value is, for the values added with a ``kind``."""
        with self._lock:
            return dict(self._kinds)

    def masker(self) -> Masker:
        """The run's masker: every form of every secret known, as they are when it masks."""
        with self._lock:
            if self._masker is None:
                from pytest_barapi.masking import Masker

                self._masker = Masker(self)
            return self._masker

    def __repr__(self) -> str:
        return f"KnownSecrets({len(self._values)} values)"


def masker_of(value: str, whole: bool = False) -> Masker:
    """A masker of ``value`` alone: to name which secret a text shows, or (``whole``: only
    whole forms) to put its placeholder in its place."""
    from pytest_barapi.masking import Masker

    known = KnownSecrets()
    known.add(value)
    return Masker(known, whole=whole)
