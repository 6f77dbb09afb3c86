"""Finds the heads and tails of secrets that pytest leaves next to ``...`` when it cuts a repr.

pytest shortens a long repr to its head and its tail around a ``...``: a secret cut there shows
only in part, its head right before the dots or its tail right after. A head or tail of a
form of :data:`FRAGMENT` characters or more is found there, in the normalized text
(:mod:`pytest_barapi.unescaping`); longer ones are pieces, which
:mod:`pytest_barapi.masking` finds wherever they show. The cut may split an escape: what it
leaves of one (hex digits, pieces of an entity, half a surrogate pair) is found with the head
or tail it belongs to.

A run of dots between characters that no head ends with and no tail starts with, as in a
long log of ``step 42 ........ ok``, is passed over without a closer look.
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterable
from dataclasses import dataclass

# A head or tail this long of a form, cut off by pytest's "...", is masked too.
FRAGMENT = 8
ELLIPSIS = "..."

# What "..." leaves of an escape it cuts in two, once normalized (the backslashes are gone):
# hex digits, "u", "x", pieces of entities, half a surrogate pair. A head may end, or a tail
# start, this many such characters away from the "...".
_CUT_ESCAPE_MOST = 24
_CUT = "0-9a-fA-FuUx&#;mpqotlgs\ud800-\udfff"
_CUT_BEFORE = re.compile(f"[{_CUT}]+\\Z")
_CUT_START = re.compile("[uUx&#\ud800-\udfff]")
_CUT_AFTER = re.compile(f"[{_CUT}]+")
_CUT_HEX = re.compile("[uUx]?[0-9a-fA-F]{1,8}")
_CUT_END = re.compile("[;\ud800-\udfff]")
# The characters of _CUT, as a set (a character class cannot be asked what it holds).
_CUT_CHARACTERS = frozenset(
    "0123456789abcdefABCDEFuUx&#;mpqotlgs" + "".join(map(chr, range(0xD800, 0xE000)))
)
_DOTS = re.compile(r"\.\.\.+")  # starts with a literal: re skips to it fast


@dataclass(frozen=True)
class Fragments:
    """The heads and tails of the forms, ready to look for next to the dots of a text."""

    # The heads and tails of the forms shorter than a piece, and the last and first
    # FRAGMENT characters of those (a quick first look next to "...").
    heads: frozenset[str]
    tails: frozenset[str]
    head_ends: frozenset[str]
    tail_starts: frozenset[str]
    # The pieces of the forms, all ``piece`` characters long: a head or tail that long is one.
    pieces: Container[str]
    piece: int
    # The most dots in a row in a form: how far from its "..." a cut head may end.
    dots: int
    # The character a head may show right before a run of dots (its last one but the dots it
    # ends with), and a tail right after one, or what a cut escape may leave there: a run of
    # dots between other characters, as in a long log of "step 42 ........ ok", is passed over
    # without a closer look.
    head_last: frozenset[str]
    tail_first: frozenset[str]

    @classmethod
    def build(cls, forms: Iterable[str], pieces: Container[str], piece: int) -> Fragments:
        """The heads and tails of ``forms`` shorter than ``piece`` characters; ``pieces`` holds
        every ``piece`` characters in a row of the forms (the caller finds them anywhere)."""
        forms = list(forms)
        cut = [form for form in forms if len(form) > FRAGMENT]
        heads = {form[:length] for form in cut for length in range(FRAGMENT, piece)}
        tails = {form[-length:] for form in cut for length in range(FRAGMENT, piece)}
        head_ends = frozenset(text[-FRAGMENT:] for text in heads)
        tail_starts = frozenset(text[:FRAGMENT] for text in tails)
        # Any character of a form may end a piece before the dots, or start one after them.
        characters = frozenset("".join(form.replace(".", "") for form in cut))
        return cls(
            heads=frozenset(heads),
            tails=frozenset(tails),
            head_ends=head_ends,
            tail_starts=tail_starts,
            pieces=pieces,
            piece=piece,
            dots=max((len(run) for form in forms for run in re.findall(r"\.+", form)), default=0),
            head_last=characters | _CUT_CHARACTERS,
            tail_first=characters | _CUT_CHARACTERS,
        )

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where ``text`` (normalized) shows a head of a form right before a run of dots or a
        tail of one right after."""
        if not self.heads or ELLIPSIS not in text:
            return []
        spans = []
        runs = [dots.span() for dots in _DOTS.finditer(text)]
        if self.dots < FRAGMENT:  # else a head may be all dots: every run is looked at
            runs = [
                (first, last)
                for first, last in runs
                if text[first - 1 : first] in self.head_last
                or text[last : last + 1] in self.tail_first
            ]
        for first, last in runs:
            spans += self._fragments(text, first, last)
        return spans

    def _fragments(self, text: str, first: int, last: int) -> list[tuple[int, int]]:
        """The head of a form right before the dots ``text[first:last]`` and the tail of one
        right after, as pytest leaves them when it cuts a long repr with "..." (the cut may
        split an escape: what is left of it is masked with the head or tail)."""
        # The cut is some "..." of the run: a head ends where it starts, a tail starts where
        # it ends. Unless forms hold dots, only the ends of the run can be either.
        reach = self.dots if self.dots < FRAGMENT else last - first
        heads = []
        for end in [*range(first, min(last - 3, first + reach) + 1), *_cut_starts(text, first)]:
            length = self._head(text, end)
            if length:
                heads.append((end - length, max(end, first)))
        tails = []
        for start in [*range(max(first + 3, last - reach), last + 1), *_cut_ends(text, last)]:
            length = self._tail(text, start)
            if length:
                tails.append((min(start, last), start + length))
        if reach >= FRAGMENT:
            return heads + tails
        # Each head then holds the character before the run, each tail the one after: one
        # span each covers them all (a repetitive secret may find many).
        spans = []
        for found in (heads, tails):
            if found:
                spans.append((min(start for start, _ in found), max(end for _, end in found)))
        return spans

    def _head(self, text: str, end: int) -> int:
        """How long the longest head of a form (or piece of one) that ends at ``end`` is."""
        # A longer head is a piece, masked as such; this masks what is left of an escape too.
        piece = self.piece
        if end >= piece and text[end - piece : end] in self.pieces:
            return piece
        if end < FRAGMENT or text[end - FRAGMENT : end] not in self.head_ends:
            return 0
        for length in range(min(piece - 1, end), FRAGMENT - 1, -1):
            if text[end - length : end] in self.heads:
                return length
        return 0

    def _tail(self, text: str, start: int) -> int:
        """How long the longest tail of a form (or piece of one) from ``start`` on is."""
        piece = self.piece
        if text[start : start + piece] in self.pieces:
            return piece
        if text[start : start + FRAGMENT] not in self.tail_starts:
            return 0
        for length in range(piece - 1, FRAGMENT - 1, -1):
            if text[start : start + length] in self.tails:
                return length
        return 0


def _cut_starts(text: str, first: int) -> range:
    """Where what is left of an escape that the "..." at ``first`` cut may start: it is made
    of such characters and holds one that starts an escape (if the cut left it)."""
    left = _CUT_BEFORE.search(text, max(0, first - _CUT_ESCAPE_MOST), first)
    starts = left and _CUT_START.search(text, left.start(), first)
    return range(starts.start() if starts else first, first)


def _cut_ends(text: str, last: int) -> list[int]:
    """Where what is left of an escape that the "..." ending at ``last`` cut may end: after
    the hex digits of a \\u, \\U or \\x escape, after the ";" of an entity, after half a
    surrogate pair."""
    left = _CUT_AFTER.match(text, last, last + _CUT_ESCAPE_MOST)
    if left is None:
        return []
    hexes = _CUT_HEX.match(text, last, left.end())
    ends = list(range(last + 1, hexes.end() + 1)) if hexes else []
    return ends + [end.end() for end in _CUT_END.finditer(text, last, left.end())]
