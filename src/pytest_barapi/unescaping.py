"""Undoes escaping in a text, and maps each character of the result back to where it came from.

A secret shows up escaped in JSON, in a Python repr (of a repr, at any depth) and in XML.
Escaping is undone rather than enumerated: the text and each secret are *normalized* (runs of
backslashes before what an escape may write dropped, ``\\uXXXX``/``\\xXX`` escapes and XML
entities decoded, escapable control characters written as their escape letter), so a secret
escaped at any depth, in any mix of JSON, repr and XML, normalizes to the same string as the
secret. A run of backslashes before a character no escape writes (a letter but ``n``, ``t``,
``r``, ``b``, ``f``, ``u``, ``U``, ``x``; a digit; most ASCII punctuation) becomes one
backslash: it holds one of the secret's, and a piece of 12 characters of a secret stays 12.
A backslash of a secret before a quote, ``/``, ``.``, ``&``, ``<``, ``>``, one of those
letters or a non-ASCII character cannot be told from an escape, and is dropped.
:mod:`pytest_barapi.masking` searches the normalized text and masks in the original.

Before that, what stands for no character is dropped: the colour codes a terminal writer puts
between the characters it highlights (with ``--color=yes``, ``PY_COLORS=1`` or
``FORCE_COLOR``, pytest colours each quote, backslash or ``%`` of a compared string apart,
cutting a secret into short pieces), as they are written raw and as junit xml writes them
(``#x1B[33m``), and NUL characters (what is left of text written in UTF-16 once read as
UTF-8 or latin-1).
"""

from __future__ import annotations

import bisect
import re
from typing import Any

# An escape in JSON or a repr: the backslashes before it (as many as escaping it again and
# again made), then what they escape. An XML entity, escaped again and again.
_BACKSLASHED = r"""
    \\\\*(?:
        u([dD][89abAB][0-9a-fA-F]{2})\\+u([dD][c-fC-F][0-9a-fA-F]{2})  # a surrogate pair
        | u([0-9a-fA-F]{4}) | U([0-9a-fA-F]{8}) | x([0-9a-fA-F]{2})
        | &(?:amp;)*(?:(lt|gt|quot|apos|amp) | \#([0-9]{1,7}) | \#[xX]([0-9a-fA-F]{1,6}));
        | ()(?=[ -~])(?![ntrbf'"/.uUx&<>])  # a backslash before what nothing escapes
        | (.)
    )
"""
_ENTITY = r"&(?:amp;)*(?:(lt|gt|quot|apos|amp) | \#([0-9]{1,7}) | \#[xX]([0-9a-fA-F]{1,6}));"
# Keyed by which of "\\" and "&" the text holds. A pattern that starts with one literal
# character is found fastest (re looks for that character only): most texts hold only one.
_ESCAPES = {
    (True, False): re.compile(_BACKSLASHED, re.VERBOSE | re.DOTALL),
    (False, True): re.compile(_ENTITY, re.VERBOSE | re.DOTALL),
    (True, True): re.compile(f"{_BACKSLASHED} | {_ENTITY}", re.VERBOSE | re.DOTALL),
}
_NO_GROUPS = (None,) * 10
# A colour (or other CSI) code: ESC [ parameters, intermediates, a final byte (ECMA-48);
# junit xml writes the ESC as "#x1B". A NUL, raw or as junit xml writes it.
_NOTHING = re.compile(r"(?:\x1b|#x1B)\[[0-?]*[ -/]*[@-~]|\x00|#x00")
_ENTITIES = {"lt": "<", "gt": ">", "quot": '"', "apos": "'", "amp": "&"}
# JSON and repr write these as a backslash and a letter; the letter stands for both.
CONTROLS = str.maketrans({"\n": "n", "\t": "t", "\r": "r", "\b": "b", "\f": "f"})


class Normalized:
    """A text with its escapes undone, and where each of its characters came from.

    Each escape (with the backslashes before it) becomes one character; every other
    character stays. ``positions`` lists, for each escape, its index in ``text`` and its
    start and end in the original.
    """

    __slots__ = ("kept", "positions", "text")  # one per text masked: kept light

    def __init__(self, original: str, controls: bool) -> None:
        self.positions: tuple[list[int], list[int], list[int]] | None = None
        # Where each run of characters kept between dropped codes starts, in the text without
        # them and in the original.
        self.kept: tuple[list[int], list[int]] | None = None
        if "\x1b" in original or "\x00" in original or "#x" in original:
            original, self.kept = _without_codes(original)
        escapes = _ESCAPES.get(("\\" in original, "&" in original))
        if escapes is None:
            self.text = original.translate(CONTROLS) if controls else original
            return
        parts: list[str] = []
        here: list[int] = []
        starts: list[int] = []
        ends: list[int] = []
        done = 0
        length = 0
        for escape in escapes.finditer(original):
            start, end = escape.span()
            parts += [original[done:start], _unescaped(escape)]
            length += start - done
            here.append(length)
            starts.append(start)
            ends.append(end)
            length += 1
            done = end
        parts.append(original[done:])
        text = "".join(parts)
        self.text = text.translate(CONTROLS) if controls else text
        self.positions = (here, starts, ends)

    def original(self, span: tuple[int, int]) -> tuple[int, int]:
        """Where the characters ``span`` of :attr:`text` came from in the original."""
        if self.kept is None:
            return self._unescaped(span)
        start, end = self._unescaped(span)
        kept, was = self.kept
        run = bisect.bisect_right(kept, start) - 1
        start = was[run] + start - kept[run]
        run = bisect.bisect_right(kept, end - 1) - 1
        return start, was[run] + end - kept[run]

    def _unescaped(self, span: tuple[int, int]) -> tuple[int, int]:
        """Where ``span`` of :attr:`text` came from in the text with its escapes."""
        start, end = span
        if self.positions is None:
            return span
        here, starts, ends = self.positions
        escape = bisect.bisect_right(here, start) - 1
        if escape >= 0 and here[escape] == start:
            start = starts[escape]
        elif escape >= 0:
            start = ends[escape] + start - here[escape] - 1
        escape = bisect.bisect_right(here, end - 1) - 1
        if escape >= 0:
            end = ends[escape] + end - 1 - here[escape]
        return start, end


def _without_codes(text: str) -> tuple[str, tuple[list[int], list[int]]]:
    """``text`` without colour codes and NULs, and where each run of the rest starts in the
    result and in ``text``."""
    parts: list[str] = []
    kept = [0]
    was = [0]
    done = 0
    for code in _NOTHING.finditer(text):
        start, end = code.span()
        parts.append(text[done:start])
        kept.append(kept[-1] + start - done)
        was.append(end)
        done = end
    parts.append(text[done:])
    return "".join(parts), (kept, was)


def _unescaped(escape: re.Match[str]) -> str:
    groups: tuple[Any, ...] = escape.groups()
    # The groups of the backslashed pattern, then those of an entity on its own.
    if len(groups) == len(_NO_GROUPS):
        groups += (None,) * 3
    elif len(groups) == 3:
        groups = _NO_GROUPS + groups
    high, low, short, long, byte, named, decimal, hexadecimal, literal, other, *entity = groups
    if literal is not None:
        return "\\"
    if other is not None:
        return str(other)
    named, decimal, hexadecimal = named or entity[0], decimal or entity[1], hexadecimal or entity[2]
    if named:
        return _ENTITIES[named]
    if high:
        return chr(0x10000 + ((int(high, 16) - 0xD800) << 10) + int(low, 16) - 0xDC00)
    code = int(decimal) if decimal else int(short or long or byte or hexadecimal, 16)
    # An escape no text could hold still stands for one (unknown) character.
    return chr(code) if code <= 0x10FFFF else "\ufffd"
