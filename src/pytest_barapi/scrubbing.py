"""Masks every known secret, in every form it takes, in what pytest reports and logs.

A test can print a token, log it, put it in a local variable, or fail an assertion that
compares it; pytest then copies it into the failure report, the captured output and the log.
The scrubber rewrites reports (and log lines, and warnings) before any reporter sees them, so
the terminal, junit xml, log files and xdist's serialized reports only ever hold ``********``.

A secret shows up in more forms than its plain text: URL-encoded in a form body or a query,
escaped in JSON or a Python repr, base64-encoded with its name in an HTTP Basic header, or cut
short next to ``...`` where pytest truncates a long repr. Each form is masked.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import re
import warnings
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

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


class Scrubber:
    """Masks the secrets in ``known`` (as they are when called: tokens arrive mid-run)."""

    def __init__(self, known: KnownSecrets) -> None:
        self.known = known
        self._key: tuple[frozenset[str], frozenset[tuple[str, str]]] | None = None
        self._forms: list[str] = []
        self._pattern: re.Pattern[str] | None = None

    # -- text -------------------------------------------------------------------------------

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

    # -- reports ----------------------------------------------------------------------------

    def scrub_report(self, report: pytest.TestReport | pytest.CollectReport) -> None:
        """Mask secrets in everything a reporter reads from ``report``, in place."""
        if not _has_text(report) or self._compiled() is None:
            return
        report.sections = [(self.mask(title), self.mask(text)) for title, text in report.sections]
        report.longrepr = self._longrepr(report.longrepr)
        wasxfail = getattr(report, "wasxfail", None)
        if isinstance(wasxfail, str):
            report.wasxfail = self.mask(wasxfail)  # type: ignore[union-attr]
        if isinstance(report, pytest.TestReport):
            report.user_properties = [
                (self.mask(name), self._value(value)) for name, value in report.user_properties
            ]

    def _longrepr(self, longrepr: Any) -> Any:
        if longrepr is None:
            return None
        if isinstance(longrepr, str):
            return self.mask(longrepr)
        if isinstance(longrepr, tuple):  # a skip: (path, lineno, reason)
            return tuple(self._value(item) for item in longrepr)
        if hasattr(longrepr, "toterminal"):
            # Masking in place keeps the structure (colors, the crash line of the short
            # summary, xdist's structured serialization); rendering it afterwards proves
            # nothing was missed, and a repr we cannot see into becomes masked plain text.
            self._scrub_repr(longrepr, set())
            try:
                rendered = str(longrepr)
            except Exception:
                return longrepr
            return self.mask(rendered) if self.reveals(rendered) else longrepr
        return self._value(longrepr)

    def _scrub_repr(self, repr_: Any, seen: set[int]) -> None:
        if id(repr_) in seen:
            return
        seen.add(id(repr_))
        for name, value in list(vars(repr_).items()):
            scrubbed = self._scrubbed(value, seen)
            if scrubbed is not value:
                # If it cannot be set, the rendering check in _longrepr catches what stays.
                with contextlib.suppress(AttributeError, TypeError):
                    object.__setattr__(repr_, name, scrubbed)

    def _scrubbed(self, value: Any, seen: set[int]) -> Any:
        if isinstance(value, str):
            masked = self.mask(value)
            return value if masked == value else masked
        if type(value) in (list, tuple):
            items = [self._scrubbed(item, seen) for item in value]
            if all(new is old for new, old in zip(items, value, strict=True)):
                return value
            return type(value)(items)
        if type(value) is dict:
            entries = {key: self._scrubbed(item, seen) for key, item in value.items()}
            changed = any(entries[key] is not item for key, item in value.items())
            return entries if changed else value
        # Only pytest's own kind of object is walked into: anything else may belong to the
        # test (an exception, a node) and must not be altered.
        if hasattr(value, "toterminal") and hasattr(value, "__dict__"):
            self._scrub_repr(value, seen)
        return value

    def _value(self, value: Any) -> Any:
        """A string masked; anything else as is, unless its text reveals a secret."""
        if isinstance(value, str):
            return self.mask(value)
        try:
            text = str(value)
        except Exception:
            return value
        return self.mask(text) if self.reveals(text) else value

    # -- warnings and logs ------------------------------------------------------------------

    def scrub_warning(self, warning_message: warnings.WarningMessage) -> None:
        """Mask the text of a recorded warning, before the summary or xdist shows it."""
        message = warning_message.message
        text = str(message)
        if not self.reveals(text):
            return
        masked = self.mask(text)
        try:
            replacement = type(message)(masked)
        except Exception:
            replacement = UserWarning(masked)
        warning_message.message = replacement

    def mask_log_output(self, logging_plugin: object) -> None:
        """Mask what pytest's log file and live log (``--log-cli-level``) write, as they
        write it. (Captured logs go into reports, masked there; ``caplog`` keeps the records
        as they were, for the test's own asserts.)"""
        for name in ("log_file_handler", "log_cli_handler"):
            handler = getattr(logging_plugin, name, None)
            if isinstance(handler, logging.Handler):
                inner = handler.formatter or logging.Formatter()
                handler.setFormatter(MaskingFormatter(inner, self))

    def mask_trace(self, tracer: Any) -> None:
        """Mask what ``--debug`` writes: it traces hook arguments and results, such as the
        values a failing assertion compares. (The command line is written before this.)"""
        write = getattr(tracer, "_writer", None)  # pluggy's TagTracer has no public getter
        if write is not None:
            tracer.setwriter(lambda text: write(self.mask(text)))


def _has_text(report: pytest.TestReport | pytest.CollectReport) -> bool:
    """Whether the report holds any text that scrub_report would mask. Most reports (a test
    that passed quietly) hold none, and are not worth building the pattern for."""
    return bool(
        report.sections
        or report.longrepr is not None
        or getattr(report, "wasxfail", None)
        or getattr(report, "user_properties", None)
    )


class MaskingFormatter(logging.Formatter):
    """Wraps a handler's formatter: the record stays intact for other handlers (``caplog``
    must see what the test logged), only this handler's output is masked."""

    def __init__(self, inner: logging.Formatter, scrubber: Scrubber) -> None:
        super().__init__()
        self.inner = inner
        self.scrubber = scrubber

    def format(self, record: logging.LogRecord) -> str:
        return self.scrubber.mask(self.inner.format(record))


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
