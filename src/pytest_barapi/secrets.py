"""Secret values (password, client secret) that cannot be printed, measured or pickled."""

from __future__ import annotations

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
