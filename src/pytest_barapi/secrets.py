"""Secret values (password, client secret) that cannot be printed, measured or pickled.

PYTEST_DONT_REWRITE: loaded at start-up, where pytest would rewrite its asserts for nothing.
"""

from __future__ import annotations

import threading
from typing import NoReturn

MASK = "********"


class Secret:
    """A credential that shows as ``********`` everywhere pytest might print it.

    ``repr``, ``str`` and f-strings are masked, ``len`` is undefined (a length is a hint),
    and pickling raises, so the value cannot reach an xdist report or a cache by accident.
    The plain text comes out only through :meth:`reveal`, where a request body is built.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    def __str__(self) -> str:
        return MASK

    def __format__(self, format_spec: str) -> str:
        return MASK

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __reduce__(self) -> NoReturn:
        raise TypeError("a barapi Secret cannot be pickled")


class KnownSecrets:
    """Every secret value this run has seen: credentials, and each token as it arrives.

    What the report scrubber masks. Values are added, never removed: a renewed token does
    not make the old one safe to print. Name/secret pairs are kept too, because an HTTP Basic
    header carries them together, base64-encoded, where neither shows on its own.
    """

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pairs: set[tuple[str, str]] = set()
        # Log lines are masked on whatever thread logs them, while a token may be arriving.
        self._lock = threading.Lock()

    def add(self, *values: str | Secret | None) -> None:
        for value in values:
            text = value.reveal() if isinstance(value, Secret) else value
            if text:
                with self._lock:
                    self._values.add(text)

    def add_pair(self, name: str | None, secret: str | Secret | None) -> None:
        """A ``name:secret`` pair (client id and secret, user and password) and its secret."""
        self.add(secret)
        text = secret.reveal() if isinstance(secret, Secret) else secret
        if name and text:
            with self._lock:
                self._pairs.add((name, text))

    def values(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._values)

    def pairs(self) -> frozenset[tuple[str, str]]:
        with self._lock:
            return frozenset(self._pairs)

    def __repr__(self) -> str:
        return f"KnownSecrets({len(self._values)} values)"
