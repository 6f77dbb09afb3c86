"""Finds every known secret in a text, in whatever form it takes there, and masks it.

A secret shows up in more forms than its plain text: URL-encoded in a form body or a query
(twice: a URL in the query of another), escaped in JSON or a Python repr (of a repr of a
repr: ``--full-trace -l`` shows the repr of an error whose message holds the repr of a JSON
string), XML-escaped in junit xml, base64 encoded with its name in an HTTP Basic header, in
pieces where pytest skips the identical head of two compared strings, and cut short next to
``...`` where pytest shortens a repr.

Escaping is undone rather than enumerated (:mod:`pytest_barapi.unescaping`): the search runs
on the text normalized as each secret is, so a secret escaped at any depth, in any mix of JSON,
repr and XML, is found as itself; each hit is mapped back to the characters it came from.

Pieces are found in linear time, whatever the number and length of the secrets. Every
4-character piece (k-gram) of the forms is indexed, and so is every piece of 12 with where it
shows; the text is looked up only in a window of 4 characters every 9, since any piece of
12 holds one whole. Around a window found in the index, a piece of 12 found there is extended
both ways by direct comparison with its form. Most windows of a text are found in no
form: a text without a secret costs little more than cutting it into windows. The index costs
about 30 bytes per character of the forms (a token answer near the 1 MiB read bound: about
25 MB, where a dict of every piece cost 450 MB).

A head or tail of a form that pytest's ``...`` left is found next to the dots, not in the
piece index (:mod:`pytest_barapi.fragments`): it may be shorter than a piece.

Limits: a secret shorter than 12 characters (or one of its forms) is masked only whole, and
wherever it shows, inside a word too; one shorter than 8 only where it stands as a whole
value (quoted, in parentheses, after ``=`` or ``:``, alone on a line or the rest of a line of
pytest's diff after ``+``, ``-`` or ``?``), so that the output stays readable.
A backslash that ends a secret stays visible after the ``********`` (it cannot be told from
one that escapes the character after it). Undoing escapes drops a secret's backslash before a
character an escape may write (a quote, ``n``, ``u``, a non-ASCII character...), and reads what
looks like an escape in it (``\\u00e9``) as one character: a piece of 12 characters of the
secret that holds one is found as it normalizes, if that is 8 or more, for up to
_MOST_ESCAPES of them in a secret.
"""

from __future__ import annotations

import base64
import bisect
import math
import re
import threading
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import compress
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus

# Re-exported: how short a head or tail cut by "..." is masked is part of what masking does.
from pytest_barapi.fragments import ELLIPSIS as ELLIPSIS
from pytest_barapi.fragments import FRAGMENT as FRAGMENT
from pytest_barapi.fragments import Fragments
from pytest_barapi.secrets import MASK
from pytest_barapi.unescaping import CONTROLS, Normalized

if TYPE_CHECKING:
    from pytest_barapi.known_secrets import KnownSecrets

# Any piece of a secret's form this long is masked wherever it shows: tokens issued together
# share long heads, and pytest shows only where two compared strings differ. Shorter pieces
# could match innocent text; a secret shorter than this is masked only where it shows whole.
MIN_PIECE = 12

# The text is looked up in windows of _K characters, one every _STRIDE characters: any
# piece of MIN_PIECE characters holds a window whole. Shorter windows are fewer (cheaper: a
# window costs a string), but they also match innocent text more often; 4 costs the least.
_K = 4
_STRIDE = MIN_PIECE - _K + 1
# Up to this many windows in all, the forms' windows are kept as a set (exact, about 60 bytes
# each); above, as a table of hashes (see _Grams).
_EXACT_GRAMS = 1 << 16
# The pieces' index keeps 32 bits of each piece's hash, and is sorted in buckets by their top
# bits (see _Pieces).
_LOW_32 = (1 << 32) - 1
_BUCKET_SHIFT = 24
_BUCKETS = 1 << (32 - _BUCKET_SHIFT)

# A secret (or a form of one) shorter than this is too short to mask wherever it shows: a
# password "x" would mask "platform linu********", a token "FAILED" every FAILED line. It is
# masked only where it stands as a whole value: quoted, in parentheses, after "=" or ":" (a
# field, a form body, a header, a URL's userinfo) up to a delimiter, alone on its line, or the
# rest of a line of pytest's diff. The run warns about it (see
# :func:`too_short`).
SHORT = 8
# A secret with up to this many backslashes that undoing escapes drops (or what reads as an
# escape: "\\u00e9") has each piece of 12 characters that holds one found as it normalizes:
# shorter than a piece, found by a pattern, which costs in every text masked.
_MOST_ESCAPES = 16
_QUOTE = "[\"'`]"
# After one "=" (key=value, key = value) or ":" (key:value, key: value), not after a run of
# "=" (pytest's rules: "===== 1 failed, 1 passed ====="), nor "==" (a comparison), nor as the
# second "=" of a comparison (a secret "=" in "assert x == y"; "password==a" still holds "=a").
_NOT_A_COMPARISON = "(?!=(?:\\s|$))"
_VALUE_BEFORE = (
    f"(?:(?<=^=){_NOT_A_COMPARISON}|(?<=[^=]=){_NOT_A_COMPARISON}|(?<=[^=] = )"
    "|(?<=:)|(?<=: )|(?<=Bearer )|(?<=Basic ))"
)
# Up to a delimiter: a space, a separator, a closing bracket or quote, the "@" that ends a
# URL's userinfo (http://alice:x@host/), or a full stop that ends a sentence.
_VALUE_AFTER = "(?=[\\s&,;)\\]}\"'`@]|\\.(?:\\s|$)|$)"
# pytest's diff of two compared texts shows each differing line whole, after "- ", "+ " or
# "? ", indented (and after a traceback's "E"): the rest of such a line is a whole value.
_DIFF_LINE = "^[ \\t]*(?:E[ \\t]+)?[-+?] ({})[ \\t]*$"


def too_short(known: KnownSecrets) -> list[str]:
    """What each known secret too short to be masked everywhere is (``password``,
    ``access_token``..., or ``secret`` if it was not said): never its value."""
    kinds = known.kinds()
    return sorted(
        kinds.get(value, "secret") for value in known.values() if _shortest_form(value) < SHORT
    )


def _shortest_form(value: str) -> int:
    """How long the shortest form of ``value`` the masker looks for is: undoing escapes can
    make one shorter than the value (``ab\\u00e9cdx`` is ``abécdx``, ``x&amp;y`` is ``x&y``)."""
    controls = value != value.translate(CONTROLS)
    return len(Normalized(value, controls).text.rstrip("\\"))


def _standing_alone(forms: list[str]) -> str:
    """A pattern that finds any of ``forms`` where it stands as a whole value."""
    either = "|".join(map(re.escape, forms))
    return (
        f"(?<={_QUOTE})(?:{either})(?={_QUOTE})"
        f"|(?<=\\()(?:{either})(?=\\))"
        f"|{_VALUE_BEFORE}(?:{either}){_VALUE_AFTER}"
        f"|^(?:{either})$"
    )


def standing_alone(forms: list[str]) -> re.Pattern[str]:
    """Where any of ``forms`` stands as a whole value, as the masker finds a short secret:
    where a cassette puts a placeholder in place of a secret of fewer than ``MIN_PIECE``
    characters that is not a value of its own."""
    return re.compile(_standing_alone(forms), re.MULTILINE)


def basic_forms(name: str, secret: str) -> set[str]:
    """The base64 of ``name:secret`` as HTTP Basic sends it (RFC 7617, and RFC 6749 §2.3.1,
    which form-encodes both halves first: a space as + or, as the exchange sends it, as %20),
    in UTF-8 and in latin-1 (what requests' own ``auth=(user, password)`` sends), without
    padding so any padding still matches."""
    encoded = set()
    pairs = (
        f"{name}:{secret}",
        f"{_quoted(name, quote_plus)}:{_quoted(secret, quote_plus)}",
        f"{_quoted(name, quote)}:{_quoted(secret, quote)}",
    )
    for pair in pairs:
        for raw in _encoded(pair):
            for b64 in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
                encoded.add(b64.decode().rstrip("="))
    return encoded


def _encoded(text: str) -> list[bytes]:
    """``text`` in the bytes it may be written in: UTF-8 (a lone surrogate, as a non-UTF-8
    environment variable or a JSON ``\\udfff`` gives, as the bytes it stands for), and
    latin-1 where it can be."""
    try:
        encodings = [text.encode("utf-8", "surrogateescape")]
    except UnicodeEncodeError:
        encodings = [text.encode("utf-8", "surrogatepass")]
    try:
        latin = text.encode("latin-1")
    except UnicodeEncodeError:
        return encodings
    return encodings if latin in encodings else [*encodings, latin]


def _quoted(text: str, how: Callable[..., str]) -> str:
    """``text`` URL-encoded (``how`` is quote or quote_plus), whatever its code points."""
    return how(_encoded(text)[0], safe="")


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
        for start, end in merged_spans(sorted(normalized.original(span) for span in spans)):
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


def written(secret: str) -> set[str]:
    """How ``secret`` is written, before any escaping: plain, URL-encoded once or twice (a URL
    in the query of another), in bytes (UTF-8 or latin-1: a bytes repr, or bytes read back as
    text in the other encoding)."""
    written = _as_text(secret)
    for raw in _encoded(secret):
        once = {quote(raw), quote(raw, safe=""), quote_plus(raw)}
        written |= once | {repr(raw)[2:-1]}
        if len(secret) <= _TWICE_UP_TO:
            written |= {encode(form) for form in once for encode in _URL_ENCODINGS}
    return written


# Up to this many characters, a secret is also looked for URL-encoded twice: a signed URL, a
# password; a token answer near the 1 MiB bound would cost the index several times its size.
_TWICE_UP_TO = 4096


# How a URL-encoded form is encoded again: in a path, in a query or a form body.
_URL_ENCODINGS: tuple[Callable[[str], str], ...] = (
    quote,
    lambda text: quote(text, safe=""),
    quote_plus,
)


def _as_text(secret: str) -> set[str]:
    """``secret`` as text: itself, and its bytes read back as text in the other encoding."""
    texts = {secret}
    for raw in _encoded(secret):
        texts |= {raw.decode("utf-8", "replace"), raw.decode("latin-1")}
    return texts


def _pieces_with_escapes(text: str, controls: bool) -> set[str]:
    """The pieces of 12 characters of ``text`` (a secret as text) that normalize to fewer
    (from SHORT on): those that hold a backslash of the secret that undoing escapes drops (it
    stands before a quote, an ``n``...), or what reads as an escape (``\\u00e9``)."""
    normalized = Normalized(text, controls)
    if normalized.positions is None:
        return set()
    shown = normalized.text
    # How many characters of the secret each escape undone stands for, where more than one.
    heavy = {
        at: end - start
        for at, start, end in zip(*normalized.positions, strict=True)
        if end > start + 1
    }
    if len(heavy) > _MOST_ESCAPES:
        return set()
    pieces = set()
    # Only a piece that holds such a character is shorter than it was.
    starts = {start for at in heavy for start in range(max(0, at - MIN_PIECE + 1), at + 1)}
    for start in starts:
        end, total = start, 0
        while end < len(shown) and total < MIN_PIECE:
            total, end = total + heavy.get(end, 1), end + 1
        # A trailing backslash cannot be told from one that escapes what follows.
        piece = shown[start:end].rstrip("\\")
        if total >= MIN_PIECE and SHORT <= len(piece) < MIN_PIECE:
            pieces.add(piece)
    return pieces


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
    # Forms shorter than MIN_PIECE, longest first: found only whole (shorter than SHORT: only
    # where they stand as a whole value).
    whole: re.Pattern[str] | None
    # The forms shorter than SHORT where they are the rest of a line of pytest's diff: the
    # form is the pattern's group (what comes before it on the line is not masked).
    diff: re.Pattern[str] | None
    forms: tuple[str, ...]
    # Every k-gram of the forms: a text's window that is none of them holds no piece.
    grams: _Grams
    # Every piece of MIN_PIECE characters of the forms, and where it shows in them: a piece
    # found in a text is extended from there, both ways.
    pieces: _Pieces
    # The heads and tails of the forms, found next to the "..." of a cut repr.
    fragments: Fragments
    # The length of the shortest text anything could be found in (inf: nothing is known).
    shortest: float

    @classmethod
    def build(
        cls, values: Iterable[str], pairs: Iterable[tuple[str, str]], whole_only: bool = False
    ) -> _Index:
        values = list(values)
        controls = any(value != value.translate(CONTROLS) for value in values)
        found: set[str] = set()
        for value in values:
            for form in written(value):
                # A trailing backslash cannot be told from one that escapes what follows.
                found.add(Normalized(form, controls).text.rstrip("\\"))
        for name, secret in pairs:
            found |= _base64(name, secret)
        found.discard("")
        short = sorted(
            (form for form in found if whole_only or len(form) < MIN_PIECE), key=len, reverse=True
        )
        if not whole_only:
            # Found as they are, wherever they show (no piece of them is one of the secret).
            escaped = {
                piece
                for value in values
                for text in _as_text(value)
                for piece in _pieces_with_escapes(text, controls)
            }
            short = sorted(set(short) | escaped, key=len, reverse=True)
        anywhere = [form for form in short if len(form) >= SHORT]
        alone = [form for form in short if len(form) < SHORT]
        patterns = [*(["|".join(map(re.escape, anywhere))] if anywhere else [])]
        patterns += [_standing_alone(alone)] if alone else []
        whole = re.compile("|".join(patterns), re.MULTILINE) if patterns else None
        either = "|".join(map(re.escape, alone))
        diff = re.compile(_DIFF_LINE.format(either), re.MULTILINE) if alone else None
        forms = () if whole_only else tuple(sorted(found))
        pieces = _Pieces(forms)
        grams = _Grams(form for form in forms if len(form) >= MIN_PIECE)
        fragments = Fragments.build(forms, pieces, MIN_PIECE)
        return cls(
            controls=controls,
            whole=whole,
            diff=diff,
            forms=forms,
            grams=grams,
            pieces=pieces,
            fragments=fragments,
            shortest=_shortest(short, fragments.heads, pieces),
        )

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where ``text`` (normalized) shows a form whole, a piece of one, or a fragment."""
        spans = [match.span() for match in self.whole.finditer(text)] if self.whole else []
        if self.diff:
            spans += [match.span(1) for match in self.diff.finditer(text)]
        if self.pieces:
            spans += self._pieces(text)
        spans += self.fragments.spans(text)
        return spans

    def _pieces(self, text: str) -> list[tuple[int, int]]:
        """Every piece (of MIN_PIECE or more) of a form in ``text``."""
        starts = range(0, len(text) - _K + 1, _STRIDE)
        windows = [text[at : at + _K] for at in starts]
        # Most windows are in no form: one pass at C speed leaves the few that are.
        hits = compress(starts, self.grams.found(windows))
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
                shows = self.pieces.where(text[start : start + MIN_PIECE])
                if shows is None:
                    continue
                form, offset = shows
                left = _matching_before(text, start, form, offset)
                right = _matching_from(text, start + MIN_PIECE, form, offset + MIN_PIECE)
                span = (start - left, start + MIN_PIECE + right)
                spans.append(span)
                if span[0] <= covered[1] and span[1] >= covered[0]:
                    covered = (min(span[0], covered[0]), max(span[1], covered[1]))
                elif span[0] > covered[1]:
                    covered = span
        return spans


class _Pieces:
    """Every piece of MIN_PIECE characters of the forms, and where it shows in them.

    A piece is kept as one 64-bit number, not as a string in a dict (about 200 bytes): 32 bits
    of its hash, then where it starts in the forms one after another; sorted, so a piece is
    looked up by its hash and compared with the form where it shows (two pieces may share a
    hash). Sorted bucket by bucket (by the hash's top bits), so that building the index never
    holds more than a bucket's worth of Python numbers at once: a token answer near the 1 MiB
    read bound would otherwise cost hundreds of MB in every process, if only while it is built.
    """

    __slots__ = ("_first", "_forms", "_keys")

    def __init__(self, forms: tuple[str, ...]) -> None:
        self._forms = forms
        # Where each form's pieces start among all of them, for a key's form and offset.
        self._first = array("Q")
        buckets = [array("Q") for _ in range(_BUCKETS)]
        position = 0
        for form in forms:
            self._first.append(position)
            for at, hashed in enumerate(map(hash, _windows(form, MIN_PIECE)), position):
                key = hashed & _LOW_32
                buckets[key >> _BUCKET_SHIFT].append(key << 32 | at)
            position += max(0, len(form) - MIN_PIECE + 1)
        self._keys = array("Q")
        for which in range(_BUCKETS):
            self._keys.extend(sorted(buckets[which]))
            buckets[which] = array("Q")  # given back as it goes: at most two copies of one

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, piece: object) -> bool:
        return isinstance(piece, str) and self.where(piece) is not None

    def where(self, piece: str) -> tuple[str, int] | None:
        """A form that holds ``piece`` and where, or None."""
        if len(piece) != MIN_PIECE:
            return None
        hashed = hash(piece) & _LOW_32
        keys = self._keys
        at = bisect.bisect_left(keys, hashed << 32)
        while at < len(keys) and keys[at] >> 32 == hashed:
            position = keys[at] & _LOW_32
            # The last form whose pieces start here or before (one too short has none).
            which = bisect.bisect_right(self._first, position) - 1
            form, offset = self._forms[which], position - self._first[which]
            if form.startswith(piece, offset):
                return form, offset
            at += 1
        return None


class _Grams:
    """Whether a window of _K characters shows in a form: exactly, for forms of up to
    _EXACT_GRAMS windows in all; above that, in a table of eight bytes or more per window of
    the forms, filled without a set of the windows (a window in none of them passes about one
    time in eight, and is then looked up as a piece)."""

    __slots__ = ("_exact", "_mask", "_table")

    def __init__(self, forms: Iterable[str]) -> None:
        forms = list(forms)
        windows = sum(max(0, len(form) - _K + 1) for form in forms)
        self._exact: frozenset[str] | None = None
        self._table = bytearray()
        self._mask = 0
        if windows <= _EXACT_GRAMS:
            self._exact = frozenset(gram for form in forms for gram in _windows(form, _K))
            return
        size = 1 << (8 * windows - 1).bit_length()
        self._mask = size - 1
        self._table = bytearray(size)
        for form in forms:
            for hashed in map(hash, _windows(form, _K)):
                self._table[hashed & self._mask] = 1

    def found(self, windows: list[str]) -> Iterator[Any]:
        """For each window, whether it may show in a form (truthy) or does not."""
        if self._exact is not None:
            return map(self._exact.__contains__, windows)
        # Every step at C speed: hash, keep the low bits, read the table.
        return map(self._table.__getitem__, map(self._mask.__and__, map(hash, windows)))


def _windows(text: str, width: int) -> Iterator[str]:
    """Every ``width`` characters in a row of ``text``, one at a time."""
    count = max(0, len(text) - width + 1)
    return map(text.__getitem__, map(slice, range(count), range(width, count + width)))


def _shortest(whole: list[str], heads: frozenset[str], pieces: _Pieces) -> float:
    """The length of the shortest text in which anything could be found."""
    lengths = [len(form) for form in whole[-1:]]  # longest first
    lengths += [FRAGMENT] if heads else [MIN_PIECE] if pieces else []
    return min(lengths, default=math.inf)


def _matching_from(text: str, at: int, form: str, offset: int) -> int:
    """How many characters of ``text`` from ``at`` on match ``form`` from ``offset`` on."""
    return _agreeing(
        min(len(text) - at, len(form) - offset),
        lambda i, j: text[at + i : at + j] == form[offset + i : offset + j],
    )


def _matching_before(text: str, at: int, form: str, offset: int) -> int:
    """How many characters of ``text`` before ``at`` match ``form`` before ``offset``."""
    return _agreeing(
        min(at, offset),
        lambda i, j: text[at - j : at - i] == form[offset - j : offset - i],
    )


def _agreeing(limit: int, agree: Callable[[int, int], bool]) -> int:
    """How many of ``limit`` characters agree, given whether characters ``i`` to ``j`` do
    (counted from where the match starts, in whichever direction it grows)."""
    matched, step = 0, 8
    # Doubling steps, then halving: the cost follows the match, not the form's length.
    while matched < limit:
        upto = min(matched + step, limit)
        if not agree(matched, upto):
            break
        matched, step = upto, step * 2
    else:
        return matched
    while upto - matched > 1:
        middle = (matched + upto) // 2
        if agree(matched, middle):
            matched = middle
        else:
            upto = middle
    return matched


def merged_spans(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted ``(start, end)`` spans with the overlapping and touching ones joined."""
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
