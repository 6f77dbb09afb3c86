"""Where masked text is put back: pytest's reports, warnings, log output and --debug traces.

A test can print a token, log it, put it in a local variable, or fail an assertion that
compares it; pytest then copies it into the failure report, the captured output and the log.
:class:`SecretMasking` rewrites reports (and log lines, and warnings) before any reporter sees
them, so the terminal, junit xml, log files and xdist's serialized reports only ever hold
``********``. What counts as a secret, in which forms, is :mod:`pytest_barapi.masking`'s.
"""

from __future__ import annotations

import contextlib
import linecache
import logging
import warnings
from collections.abc import Generator
from typing import Any

import pytest

from pytest_barapi.masking import Masker
from pytest_barapi.secrets import KnownSecrets


class SecretMasking:
    """The pytest plugin that masks known secrets in reports, warnings, log output and --debug
    traces, before anything prints or serializes them."""

    def __init__(self, known: KnownSecrets, config: pytest.Config) -> None:
        self.masker = Masker(known)
        self.mask_trace(config.pluginmanager.trace.root)
        # pytest's logging plugin exists from its own (trylast) pytest_configure on: when
        # this is registered mid-run, there is no pytest_sessionstart to wait for.
        logging_plugin = config.pluginmanager.get_plugin("logging-plugin")
        if logging_plugin is not None:
            self.mask_log_output(logging_plugin)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        logging_plugin = session.config.pluginmanager.get_plugin("logging-plugin")
        self.mask_log_output(logging_plugin)

    # tryfirst wrappers are the outermost: the masking comes after every other plugin has
    # finished the report, and before any reporter (terminal, junitxml, xdist) reads it.
    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_makereport(self) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        self.scrub_report(report)
        return report

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_make_collect_report(
        self,
    ) -> Generator[None, pytest.CollectReport | None, pytest.CollectReport | None]:
        report = yield
        if report is not None:
            self.scrub_report(report)
        return report

    # A historic hook takes no wrapper; tryfirst still runs before the reporters' impls.
    @pytest.hookimpl(tryfirst=True)
    def pytest_warning_recorded(self, warning_message: warnings.WarningMessage) -> None:
        self.scrub_warning(warning_message)

    def scrub_report(self, report: pytest.TestReport | pytest.CollectReport) -> None:
        """Mask secrets in everything a reporter reads from ``report``, in place."""
        if not _has_text(report) or not self.masker.known.values():
            return
        report.sections = [
            (self.masker.mask(title), self.masker.mask(text)) for title, text in report.sections
        ]
        report.longrepr = self._longrepr(report.longrepr)
        wasxfail = getattr(report, "wasxfail", None)
        if isinstance(wasxfail, str):
            report.wasxfail = self.masker.mask(wasxfail)  # type: ignore[union-attr]
        if isinstance(report, pytest.TestReport):
            report.user_properties = [
                (self.masker.mask(name), self._value(value))
                for name, value in report.user_properties
            ]

    def _longrepr(self, longrepr: Any) -> Any:
        if longrepr is None:
            return None
        if isinstance(longrepr, str):
            return self.masker.mask(longrepr)
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
            return self.masker.mask(rendered) if self.masker.reveals(rendered) else longrepr
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
            masked = self.masker.mask(value)
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
            return self.masker.mask(value)
        try:
            text = str(value)
        except Exception:
            return value
        return self.masker.mask(text) if self.masker.reveals(text) else value

    def scrub_warning(self, warning_message: warnings.WarningMessage) -> None:
        """Mask the text of a recorded warning, and the source line shown with it, before the
        summary or xdist shows them."""
        line = warning_message.line
        if line is None:
            # What pytest's summary would read, later, from the file the warning points at.
            line = linecache.getline(warning_message.filename, warning_message.lineno)
        if self.masker.reveals(line):
            warning_message.line = self.masker.mask(line)
        message = warning_message.message
        text = str(message)
        if not self.masker.reveals(text):
            return
        masked = self.masker.mask(text)
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
                handler.setFormatter(MaskingFormatter(inner, self.masker))

    def mask_trace(self, tracer: Any) -> None:
        """Mask what ``--debug`` writes: it traces hook arguments and results, such as the
        values a failing assertion compares. (The command line is written before this.)"""
        write = getattr(tracer, "_writer", None)  # pluggy's TagTracer has no public getter
        if write is not None:
            tracer.setwriter(lambda text: write(self.masker.mask(text)))


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

    def __init__(self, inner: logging.Formatter, masker: Masker) -> None:
        super().__init__()
        self.inner = inner
        self.masker = masker

    def format(self, record: logging.LogRecord) -> str:
        return self.masker.mask(self.inner.format(record))
