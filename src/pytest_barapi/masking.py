"""The text masker: every form of every known secret in a text, replaced by ``********``.

A secret shows up in more forms than its plain text: URL-encoded in a form body or a query,
escaped in JSON or a Python repr, base64-encoded with its name in an HTTP Basic header, or cut
short next to ``...`` where pytest truncates a long repr. Each form is masked. This module
knows texts only; where texts leave the process is :mod:`pytest_barapi.scrubbing`'s concern.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from urllib.parse import quote, quote_plus

from pytest_barapi.secrets import MASK, KnownSecrets

# A piece of a secret shorter than this, cut off by "...", is not worth hiding (and could
# match innocent text); a longer one is masked.
FRAGMENT = 8
ELLIPSIS = "..."


def _json_ascii(text: str) -> str:
    return json.dumps(text)[1:-1]


def _json_unicode(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)[1:-1]


def _python(text: str) -> str:
    return repr(text)[1:-1]


# Escaped once, or twice: --debug traces the repr of a list of assertion lines, each of
# which holds the repr of the compared string.
ESCAPES = (_json_ascii, _json_unicode, _python)
ESCAPE_DEPTH = 2


def forms(secret: str) -> set[str]:
    """How ``secret`` looks in a form body or URL, in bytes, and escaped in JSON or a repr."""
    written = {
        secret,
        quote(secret),
        quote(secret, safe=""),
        quote_plus(secret),
        repr(secret.encode())[2:-1],
    }
    for _ in range(ESCAPE_DEPTH):
        written |= {escape(form) for form in written for escape in ESCAPES}
    return written


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
    """Masks the secrets in ``known`` (as they are when called: tokens arrive mid-run)."""

    def __init__(self, known: KnownSecrets) -> None:
        self.known = known
        self._key: tuple[frozenset[str], frozenset[tuple[str, str]]] | None = None
        self._forms: list[str] = []
        self._pattern: re.Pattern[str] | None = None

    def mask(self, text: str) -> str:
        """``text`` with every form of every known secret, and every cut-off piece of one
        next to ``...``, replaced by ``********``."""
        pattern = self._compiled()
        if pattern is None:
            return text
        text = pattern.sub(MASK, text)
        spans = sorted(set(self._fragments(text)))
        for start, end in reversed(_merged(spans)):
            text = text[:start] + MASK + text[end:]
        return text

    def reveals(self, text: str) -> bool:
        return self.mask(text) != text

    def _compiled(self) -> re.Pattern[str] | None:
        key = (self.known.values(), self.known.pairs())
        if key != self._key:
            found: set[str] = set()
            for value in key[0]:
                found |= forms(value)
            for name, secret in key[1]:
                for encoded in basic_credentials(name, secret):
                    found |= forms(encoded)
            found.discard("")
            # Longest first: one form can contain another (a secret within a longer one).
            self._forms = sorted(found, key=len, reverse=True)
            alternatives = "|".join(re.escape(form) for form in self._forms)
            self._pattern = re.compile(alternatives) if alternatives else None
            self._key = key
        return self._pattern

    def _fragments(self, text: str) -> Iterator[tuple[int, int]]:
        """Spans of the head of a secret right before ``...`` and of its tail right after,
        as pytest leaves them when it shortens a long repr or explanation."""
        if ELLIPSIS not in text:
            return
        for match in re.finditer(re.escape(ELLIPSIS), text):
            before, after = match.start(), match.end()
            for form in self._forms:
                if len(form) <= FRAGMENT:
                    continue
                head = _longest_head(text, before, form)
                if head:
                    yield before - head, before
                tail = _longest_tail(text, after, form)
                if tail:
                    yield after, after + tail


def _longest_head(text: str, end: int, form: str) -> int:
    """Length of the longest proper head of ``form`` (at least FRAGMENT) ending at ``end``."""
    probe = text[end - FRAGMENT : end] if end >= FRAGMENT else ""
    if len(probe) < FRAGMENT:
        return 0
    at = form.rfind(probe, 0, len(form) - 1)
    while at != -1:
        length = at + FRAGMENT
        if text.endswith(form[:length], 0, end):
            return length
        at = form.rfind(probe, 0, at + FRAGMENT - 1)
    return 0


def _longest_tail(text: str, start: int, form: str) -> int:
    """Length of the longest proper tail of ``form`` (at least FRAGMENT) starting at ``start``."""
    probe = text[start : start + FRAGMENT]
    if len(probe) < FRAGMENT:
        return 0
    at = form.find(probe, 1)
    while at != -1:
        if text.startswith(form[at:], start):
            return len(form) - at
        at = form.find(probe, at + 1)
    return 0


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
