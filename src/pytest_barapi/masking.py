"""Finds every known secret in a text, in whatever form it takes there, and masks it.

A secret shows up in more forms than its plain text: URL-encoded in a form body or a query,
escaped in JSON or a Python repr (of a repr of a repr: ``--full-trace -l`` shows the repr of
an error whose message holds the repr of a JSON string), XML-escaped in junit xml, base64
encoded with its name in an HTTP Basic header, in pieces where pytest skips the identical
head of two compared strings, and cut short next to ``...`` where pytest shortens a repr.

Escaping is undone rather than enumerated: the text and each secret are *normalized* (runs of
backslashes dropped, ``\\uXXXX``/``\\xXX`` escapes and XML entities decoded, escapable control
characters written as their escape letter), so a secret escaped at any depth, in any mix of
JSON, repr and XML, normalizes to the same string as the secret. The search runs on the
normalized text; each hit is mapped back to the characters it came from.

Pieces are found in linear time, whatever the number and length of the secrets. Where each
4-character piece (k-gram) shows in each form is indexed; the text is looked up only in a
window of 4 characters every 9, since any piece of 12 holds one whole. A window found in the
index is extended both ways by direct comparison. Most windows of a text are found in no
form: a text without a secret costs little more than cutting it into windows.

Limits: a secret shorter than 12 characters (or one of its forms) is masked only whole, and
wherever it shows, inside a word too. A backslash that ends a secret stays visible after the
``********`` (it cannot be told from one that escapes the character after it).
"""

from __future__ import annotations

import base64
import bisect
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import compress
from typing import Any
from urllib.parse import quote, quote_plus

from pytest_barapi.secrets import MASK, KnownSecrets

# Any piece of a secret's form this long is masked wherever it shows: tokens issued together
# share long heads, and pytest shows only where two compared strings differ. Shorter pieces
# could match innocent text; a secret shorter than this is masked only where it shows whole.
MIN_PIECE = 12
# A head or tail this long of a form, cut off by pytest's "...", is masked too.
FRAGMENT = 8
ELLIPSIS = "..."

# The text is looked up in windows of _K characters, one every _STRIDE characters: any
# piece of MIN_PIECE characters holds a window whole. Shorter windows are fewer (cheaper: a
# window costs a string), but they also match innocent text more often; 4 costs the least.
_K = 4
_STRIDE = MIN_PIECE - _K + 1
# Offsets of one k-gram in one form kept from each end of the form: a highly repetitive
# secret ("aaaa...") would otherwise make each window cost thousands of comparisons.
_FEW = 8

# An escape in JSON or a repr: the backslashes before it (as many as escaping it again and
# again made), then what they escape. An XML entity, escaped again and again.
_BACKSLASHED = r"""
    \\\\*(?:
        u([dD][89abAB][0-9a-fA-F]{2})\\+u([dD][c-fC-F][0-9a-fA-F]{2})  # a surrogate pair
        | u([0-9a-fA-F]{4}) | U([0-9a-fA-F]{8}) | x([0-9a-fA-F]{2})
        | &(?:amp;)*(?:(lt|gt|quot|apos|amp) | \#([0-9]{1,7}) | \#[xX]([0-9a-fA-F]{1,6}));
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
_NO_GROUPS = (None,) * 9
_ENTITIES = {"lt": "<", "gt": ">", "quot": '"', "apos": "'", "amp": "&"}
# JSON and repr write these as a backslash and a letter; the letter stands for both.
_CONTROLS = str.maketrans({"\n": "n", "\t": "t", "\r": "r", "\b": "b", "\f": "f"})

# What "..." leaves of an escape it cuts in two, once normalized (the backslashes are gone):
# hex digits, "u", "x", pieces of entities, half a surrogate pair. A head may end, or a tail
# start, this many such characters away from the "...".
_CUT_ESCAPE = frozenset("0123456789abcdefABCDEFuUx&#;mpqotlgs")
_CUT_ESCAPE_MOST = 24
_DOTS = re.compile(r"\.\.\.+")  # starts with a literal: re skips to it fast
_WINDOWS = re.compile(f"(.{{{_K}}}).{{0,{_STRIDE - _K}}}", re.DOTALL)


def basic_credentials(name: str, secret: str) -> set[str]:
    """The base64 of ``name:secret`` as HTTP Basic sends it (RFC 7617, and RFC 6749 §2.3.1,
    which form-encodes both halves first), without padding so any padding still matches."""
    encoded = set()
    for pair in (f"{name}:{secret}", f"{quote_plus(name)}:{quote_plus(secret)}"):
        raw = pair.encode()
        for b64 in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
            encoded.add(b64.decode().rstrip("="))
    return encoded


class Masker:
    """Masks every form of every secret in ``known`` (as they are when called: tokens arrive
    mid-run)."""

    def __init__(self, known: KnownSecrets) -> None:
        self.known = known
        # One reference, swapped whole: a thread masking a log line reads a consistent pair.
        self._built: tuple[int, _Index] = (-1, _Index.build([], []))
        self._lock = threading.Lock()

    def mask(self, text: str) -> str:
        """``text`` with every hit replaced by ``********``; hits that overlap or touch
        become one."""
        found = self._found(text)
        if found is None:
            return text
        normalized, spans = found
        parts = []
        at = 0
        for start, end in _merged(sorted(normalized.original(span) for span in spans)):
            parts += [text[at:start], MASK]
            at = end
        parts.append(text[at:])
        return "".join(parts)

    def reveals(self, text: str) -> bool:
        """Whether ``text`` shows any form of a known secret (what :meth:`mask` would mask)."""
        return self._found(text) is not None

    def _found(self, text: str) -> tuple[_Normalized, list[tuple[int, int]]] | None:
        index = self._index()
        if index.empty or not text:
            return None
        normalized = _Normalized.of(text, index.controls)
        spans = index.spans(normalized.text)
        return (normalized, spans) if spans else None

    def _index(self) -> _Index:
        version = self.known.version  # read first: secrets added meanwhile mean one more build
        built_version, index = self._built
        if built_version != version:
            with self._lock:
                built_version, index = self._built
                if built_version != version:
                    index = _Index.build(self.known.values(), self.known.pairs())
                    self._built = (version, index)
        return index


def _written(secret: str) -> set[str]:
    """How ``secret`` is written, before any escaping: plain, URL-encoded, in bytes."""
    return {
        secret,
        quote(secret),
        quote(secret, safe=""),
        quote_plus(secret),
        repr(secret.encode())[2:-1],
    }


def _base64(name: str, secret: str) -> set[str]:
    """The pair's base64 forms, with padding (masked too: it tells the length) and without."""
    encoded = set()
    for unpadded in basic_credentials(name, secret):
        encoded |= {unpadded, unpadded + "=" * (-len(unpadded) % 4)}
    return encoded


@dataclass(frozen=True)
class _Index:
    """The normalized forms of the known secrets, ready to search a text for."""

    # Whether a secret holds a control character that JSON or repr writes as a letter; only
    # then are these characters written as letters in texts too (it costs a pass).
    controls: bool
    # Forms shorter than MIN_PIECE, longest first: found only whole.
    whole: re.Pattern[str] | None
    # The forms longer than FRAGMENT, and where each k-gram shows in them: (form, offset).
    forms: tuple[str, ...]
    grams: dict[str, tuple[tuple[int, int], ...]]
    # k-grams found at more offsets than were kept, and every MIN_PIECE-gram of every form,
    # to find all pieces around such a k-gram without trying each offset.
    crowded: frozenset[str]
    pieces: frozenset[str]
    # The most dots in a row in a form: how far from its "..." a cut head may end.
    dots: int

    @property
    def empty(self) -> bool:
        return self.whole is None and not self.forms

    @classmethod
    def build(cls, values: Iterable[str], pairs: Iterable[tuple[str, str]]) -> _Index:
        values = list(values)
        controls = any(value != value.translate(_CONTROLS) for value in values)
        found: set[str] = set()
        for value in values:
            for written in _written(value):
                # A trailing backslash cannot be told from one that escapes what follows.
                found.add(_Normalized.of(written, controls).text.rstrip("\\"))
        for name, secret in pairs:
            found |= _base64(name, secret)
        found.discard("")
        short = sorted((form for form in found if len(form) < MIN_PIECE), key=len, reverse=True)
        whole = re.compile("|".join(map(re.escape, short))) if short else None
        forms = tuple(sorted(form for form in found if len(form) > FRAGMENT))
        grams, crowded = _grams(forms)
        pieces = frozenset(
            form[at : at + MIN_PIECE]
            for form in (forms if crowded else ())
            for at in range(len(form) - MIN_PIECE + 1)
        )
        dots = max((len(dots) for form in forms for dots in re.findall(r"\.+", form)), default=0)
        return cls(controls, whole, forms, grams, crowded, pieces, dots)

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where ``text`` (normalized) shows a form whole, a piece of one, or a fragment."""
        spans = [match.span() for match in self.whole.finditer(text)] if self.whole else []
        if self.forms:
            spans += self._pieces(text)
            if ELLIPSIS in text:
                for dots in _DOTS.finditer(text):
                    spans += self._fragments(text, *dots.span())
        return spans

    def _pieces(self, text: str) -> list[tuple[int, int]]:
        """Every piece (of MIN_PIECE or more) of a form in ``text``."""
        grams = self.grams
        windows = _WINDOWS.findall(text)
        starts = range(0, _STRIDE * len(windows), _STRIDE)
        # Most windows are in no form: they are weeded out without a Python loop.
        hits = compress(starts, map(grams.__contains__, windows))
        spans: list[tuple[int, int]] = []
        # The span masked so far that reaches furthest right. A window well inside it (by
        # more than a piece either way) cannot lead to anything it does not cover already.
        covered = (0, 0)
        margin = MIN_PIECE - _K
        for at in hits:
            if covered[0] <= at - margin and at + _K + margin <= covered[1]:
                continue
            window = text[at : at + _K]
            found = []
            for which, offset in grams[window]:
                form = self.forms[which]
                left = _matching_before(text, at, form, offset)
                right = _matching_from(text, at + _K, form, offset + _K)
                if left + _K + right >= MIN_PIECE:
                    found.append((at - left, at + _K + right))
            if window in self.crowded:
                for start in range(max(0, at + _K - MIN_PIECE), at + 1):
                    if text[start : start + MIN_PIECE] in self.pieces:
                        found.append((start, start + MIN_PIECE))
            for start, end in found:
                if start <= covered[1] and end >= covered[0]:
                    covered = (min(start, covered[0]), max(end, covered[1]))
                elif start > covered[1]:
                    covered = (start, end)
            spans += found
        return spans

    def _fragments(self, text: str, first: int, last: int) -> list[tuple[int, int]]:
        """The head of a form right before the dots ``text[first:last]`` and the tail of one
        right after, as pytest leaves them when it cuts a long repr with "..." (the cut may
        split an escape)."""
        spans: list[tuple[int, int]] = []
        grams = self.grams
        # The cut is some "..." of the run: a head ends where it starts, a tail starts where
        # it ends. Unless forms hold dots, only the ends of the run can be either.
        reach = self.dots if self.dots < FRAGMENT else last - first
        for end in range(max(first, _K), min(last - 3, first + reach) + 1):
            if text[end - _K : end] in grams:
                spans += self._heads(text, end, end)
        end = first
        while end > max(_K, first - _CUT_ESCAPE_MOST) and _cut_escape(text[end - 1]):
            end -= 1
            if text[end - _K : end] in grams:
                spans += self._heads(text, end, first)
        for start in range(max(first + 3, last - reach), last + 1):
            if text[start : start + _K] in grams:
                spans += self._tails(text, start, start)
        start = last
        while start < min(len(text), last + _CUT_ESCAPE_MOST) and _cut_escape(text[start]):
            start += 1
            if text[start : start + _K] in grams:
                spans += self._tails(text, start, last)
        return spans

    def _heads(self, text: str, end: int, masked_to: int) -> Iterator[tuple[int, int]]:
        for which, offset in self.grams[text[end - _K : end]]:
            length = offset + _K
            start = end - length
            head = self.forms[which][:offset]
            if length >= FRAGMENT and start >= 0 and text.startswith(head, start):
                yield start, masked_to

    def _tails(self, text: str, start: int, masked_from: int) -> Iterator[tuple[int, int]]:
        for which, offset in self.grams[text[start : start + _K]]:
            form = self.forms[which]
            length = len(form) - offset
            if length >= FRAGMENT and text.startswith(form[offset + _K :], start + _K):
                yield masked_from, start + length


def _grams(
    forms: tuple[str, ...],
) -> tuple[dict[str, tuple[tuple[int, int], ...]], frozenset[str]]:
    """Where each k-gram shows in ``forms``, and which show too often to keep every offset."""
    offsets: dict[str, dict[int, list[int]]] = {}
    for number, form in enumerate(forms):
        for offset in range(len(form) - _K + 1):
            by_form = offsets.setdefault(form[offset : offset + _K], {})
            by_form.setdefault(number, []).append(offset)
    grams: dict[str, tuple[tuple[int, int], ...]] = {}
    crowded = set()
    for gram, by_form in offsets.items():
        kept = []
        for number, at in by_form.items():
            if len(at) > 2 * _FEW:
                crowded.add(gram)
                at = at[:_FEW] + at[-_FEW:]
            kept += [(number, offset) for offset in at]
        grams[gram] = tuple(kept)
    return grams, frozenset(crowded)


def _cut_escape(char: str) -> bool:
    return char in _CUT_ESCAPE or "\ud800" <= char <= "\udfff"


def _matching_from(text: str, at: int, form: str, offset: int) -> int:
    """How many characters of ``text`` from ``at`` on match ``form`` from ``offset`` on."""
    limit = min(len(text) - at, len(form) - offset)
    matched, step = 0, 8
    # Doubling steps, then halving: the cost follows the match, not the form's length.
    while matched < limit:
        upto = min(matched + step, limit)
        if text[at + matched : at + upto] != form[offset + matched : offset + upto]:
            break
        matched, step = upto, step * 2
    else:
        return matched
    while upto - matched > 1:
        middle = (matched + upto) // 2
        if text[at + matched : at + middle] == form[offset + matched : offset + middle]:
            matched = middle
        else:
            upto = middle
    return matched


def _matching_before(text: str, at: int, form: str, offset: int) -> int:
    """How many characters of ``text`` before ``at`` match ``form`` before ``offset``."""
    limit = min(at, offset)
    matched, step = 0, 8
    while matched < limit:
        upto = min(matched + step, limit)
        if text[at - upto : at - matched] != form[offset - upto : offset - matched]:
            break
        matched, step = upto, step * 2
    else:
        return matched
    while upto - matched > 1:
        middle = (matched + upto) // 2
        if text[at - middle : at - matched] == form[offset - middle : offset - matched]:
            matched = middle
        else:
            upto = middle
    return matched


@dataclass(frozen=True)
class _Normalized:
    """A text with its escapes undone, and where each of its characters came from.

    Each escape (with the backslashes before it) becomes one character; every other
    character stays. ``positions`` lists, for each escape, its index in ``text`` and its
    start and end in the original.
    """

    text: str
    positions: tuple[list[int], list[int], list[int]] | None

    @classmethod
    def of(cls, original: str, controls: bool) -> _Normalized:
        escapes = _ESCAPES.get(("\\" in original, "&" in original))
        if escapes is None:
            return cls(original.translate(_CONTROLS) if controls else original, None)
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
        return cls(text.translate(_CONTROLS) if controls else text, (here, starts, ends))

    def original(self, span: tuple[int, int]) -> tuple[int, int]:
        """Where the characters ``span`` of :attr:`text` came from in the original."""
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


def _unescaped(escape: re.Match[str]) -> str:
    groups: tuple[Any, ...] = escape.groups()
    # The groups of the backslashed pattern, then those of an entity on its own.
    if len(groups) == len(_NO_GROUPS):
        groups += (None,) * 3
    elif len(groups) == 3:
        groups = _NO_GROUPS + groups
    high, low, short, long, byte, named, decimal, hexadecimal, other, *entity = groups
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


def _merged(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
