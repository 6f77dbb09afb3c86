"""Finds every known secret in a text, in whatever form it takes there, and masks it.

A secret shows up in more forms than its plain text: URL-encoded in a form body or a query,
escaped in JSON or a Python repr (of a repr of a repr: ``--full-trace -l`` shows the repr of
an error whose message holds the repr of a JSON string), XML-escaped in junit xml, base64
encoded with its name in an HTTP Basic header, in pieces where pytest skips the identical
head of two compared strings, and cut short next to ``...`` where pytest shortens a repr.

Escaping is undone rather than enumerated (:mod:`pytest_barapi.unescaping`): the search runs
on the text normalized as each secret is, so a secret escaped at any depth, in any mix of JSON,
repr and XML, is found as itself; each hit is mapped back to the characters it came from.

Pieces are found in linear time, whatever the number and length of the secrets. Every
4-character piece (k-gram) of the forms is indexed, and so is every piece of 12 with where it
shows first; the text is looked up only in a window of 4 characters every 9, since any piece of
12 holds one whole. Around a window found in the index, a piece of 12 found there is extended
both ways by direct comparison with its form. Most windows of a text are found in no
form: a text without a secret costs little more than cutting it into windows.

Limits: a secret shorter than 12 characters (or one of its forms) is masked only whole, and
wherever it shows, inside a word too. A backslash that ends a secret stays visible after the
``********`` (it cannot be told from one that escapes the character after it).
"""

from __future__ import annotations

import base64
import math
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import compress
from urllib.parse import quote, quote_plus

from pytest_barapi.secrets import MASK, KnownSecrets
from pytest_barapi.unescaping import CONTROLS, Normalized

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


def basic_forms(name: str, secret: str) -> set[str]:
    """The base64 of ``name:secret`` as HTTP Basic sends it (RFC 7617, and RFC 6749 §2.3.1,
    which form-encodes both halves first: a space as + or, as the exchange sends it, as %20),
    without padding so any padding still matches."""
    encoded = set()
    pairs = (
        f"{name}:{secret}",
        f"{quote_plus(name)}:{quote_plus(secret)}",
        f"{quote(name, safe='')}:{quote(secret, safe='')}",
    )
    for pair in pairs:
        raw = pair.encode()
        for b64 in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
            encoded.add(b64.decode().rstrip("="))
    return encoded


class Masker:
    """Masks every form of every secret in ``known`` (as they are when called: tokens arrive
    mid-run)."""

    def __init__(self, known: KnownSecrets, *, whole: bool = False) -> None:
        self.known = known
        # Only whole forms: what a cassette's placeholders stand in for (a piece two tokens
        # share must not turn one token into two placeholders).
        self.whole = whole
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

    def _found(self, text: str) -> tuple[Normalized, list[tuple[int, int]]] | None:
        index = self._index()
        # Undoing escapes only shortens a text: one shorter than anything found holds none
        # (the terminal writes one "." per test passed).
        if len(text) < index.shortest:
            return None
        normalized = Normalized(text, index.controls)
        spans = index.spans(normalized.text)
        return (normalized, spans) if spans else None

    def _index(self) -> _Index:
        version = self.known.version  # read first: secrets added meanwhile mean one more build
        built_version, index = self._built
        if built_version != version:
            with self._lock:
                built_version, index = self._built
                if built_version != version:
                    index = _Index.build(self.known.values(), self.known.pairs(), self.whole)
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
    for unpadded in basic_forms(name, secret):
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
    forms: tuple[str, ...]
    # Every k-gram of the forms: a text's window that is none of them holds no piece.
    grams: frozenset[str]
    # Every piece of MIN_PIECE characters of the forms, and where it shows first in them
    # (form, offset): a piece found in a text is extended from there, both ways.
    pieces: dict[str, tuple[int, int]]
    # The heads and tails of the forms shorter than a piece, and the last and first
    # FRAGMENT characters of those and of the pieces (a quick first look next to "...").
    heads: frozenset[str]
    tails: frozenset[str]
    head_ends: frozenset[str]
    tail_starts: frozenset[str]
    # The most dots in a row in a form: how far from its "..." a cut head may end.
    dots: int
    # The length of the shortest text anything could be found in (inf: nothing is known).
    shortest: float
    # The character a head may show right before a run of dots (its last one but the dots it
    # ends with), and a tail right after one, or what a cut escape may leave there: a run of
    # dots between other characters, as in a long log of "step 42 ........ ok", is passed over
    # without a closer look.
    head_last: frozenset[str]
    tail_first: frozenset[str]

    @classmethod
    def build(
        cls, values: Iterable[str], pairs: Iterable[tuple[str, str]], whole_only: bool = False
    ) -> _Index:
        values = list(values)
        controls = any(value != value.translate(CONTROLS) for value in values)
        found: set[str] = set()
        for value in values:
            for written in _written(value):
                # A trailing backslash cannot be told from one that escapes what follows.
                found.add(Normalized(written, controls).text.rstrip("\\"))
        for name, secret in pairs:
            found |= _base64(name, secret)
        found.discard("")
        short = sorted(
            (form for form in found if whole_only or len(form) < MIN_PIECE), key=len, reverse=True
        )
        whole = re.compile("|".join(map(re.escape, short))) if short else None
        forms = () if whole_only else tuple(sorted(found))
        pieces: dict[str, tuple[int, int]] = {}
        grams = set()
        for which, form in enumerate(forms):
            for at in range(len(form) - MIN_PIECE + 1):
                pieces.setdefault(form[at : at + MIN_PIECE], (which, at))
            if len(form) >= MIN_PIECE:
                grams |= {form[at : at + _K] for at in range(len(form) - _K + 1)}
        cut = [form for form in forms if len(form) > FRAGMENT]
        heads = {form[:length] for form in cut for length in range(FRAGMENT, MIN_PIECE)}
        tails = {form[-length:] for form in cut for length in range(FRAGMENT, MIN_PIECE)}
        head_ends = frozenset(text[-FRAGMENT:] for text in heads | pieces.keys())
        tail_starts = frozenset(text[:FRAGMENT] for text in tails | pieces.keys())
        return cls(
            controls=controls,
            whole=whole,
            forms=forms,
            grams=frozenset(grams),
            pieces=pieces,
            heads=frozenset(heads),
            tails=frozenset(tails),
            head_ends=head_ends,
            tail_starts=tail_starts,
            shortest=_shortest(short, heads, pieces),
            dots=max((len(run) for form in forms for run in re.findall(r"\.+", form)), default=0),
            head_last=frozenset(text.rstrip(".")[-1:] for text in head_ends) | _CUT_CHARACTERS,
            tail_first=frozenset(text.lstrip(".")[:1] for text in tail_starts) | _CUT_CHARACTERS,
        )

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where ``text`` (normalized) shows a form whole, a piece of one, or a fragment."""
        spans = [match.span() for match in self.whole.finditer(text)] if self.whole else []
        if self.pieces:
            spans += self._pieces(text)
        if self.heads and ELLIPSIS in text:
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

    def _pieces(self, text: str) -> list[tuple[int, int]]:
        """Every piece (of MIN_PIECE or more) of a form in ``text``."""
        starts = range(0, len(text) - _K + 1, _STRIDE)
        windows = [text[at : at + _K] for at in starts]
        # Most windows are in no form: one pass at C speed leaves the few that are.
        hits = compress(starts, map(self.grams.__contains__, windows))
        spans: list[tuple[int, int]] = []
        # The span masked so far that reaches furthest right: a piece inside it is masked
        # already, and a window well inside it can only lead to such pieces.
        covered = (0, 0)
        margin = MIN_PIECE - _K
        for at in hits:
            if covered[0] <= at - margin and at + _K + margin <= covered[1]:
                continue
            # Each piece that holds this window starts in this range.
            for start in range(max(0, at + _K - MIN_PIECE), at + 1):
                if covered[0] <= start and start + MIN_PIECE <= covered[1]:
                    continue
                shows = self.pieces.get(text[start : start + MIN_PIECE])
                if shows is None:
                    continue
                which, offset = shows
                form = self.forms[which]
                left = _matching_before(text, start, form, offset)
                right = _matching_from(text, start + MIN_PIECE, form, offset + MIN_PIECE)
                span = (start - left, start + MIN_PIECE + right)
                spans.append(span)
                if span[0] <= covered[1] and span[1] >= covered[0]:
                    covered = (min(span[0], covered[0]), max(span[1], covered[1]))
                elif span[0] > covered[1]:
                    covered = span
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
        if end < FRAGMENT or text[end - FRAGMENT : end] not in self.head_ends:
            return 0
        # A longer head is a piece, masked as such; this masks what is left of an escape too.
        if end >= MIN_PIECE and text[end - MIN_PIECE : end] in self.pieces:
            return MIN_PIECE
        for length in range(min(MIN_PIECE - 1, end), FRAGMENT - 1, -1):
            if text[end - length : end] in self.heads:
                return length
        return 0

    def _tail(self, text: str, start: int) -> int:
        """How long the longest tail of a form (or piece of one) from ``start`` on is."""
        if text[start : start + FRAGMENT] not in self.tail_starts:
            return 0
        if text[start : start + MIN_PIECE] in self.pieces:
            return MIN_PIECE
        for length in range(MIN_PIECE - 1, FRAGMENT - 1, -1):
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


def _shortest(whole: list[str], heads: set[str], pieces: dict[str, tuple[int, int]]) -> float:
    """The length of the shortest text in which anything could be found."""
    lengths = [len(form) for form in whole[-1:]]  # longest first
    lengths += [FRAGMENT] if heads else [MIN_PIECE] if pieces else []
    return min(lengths, default=math.inf)


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


def _merged(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
