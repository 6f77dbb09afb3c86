"""The exits: every way pytest's text leaves the process, each masked on its way out.

A test can print a token, log it, put it in a local variable, or fail an assertion that
compares it; pytest then copies it into reports, the captured output and the log, and an
interrupt or an internal error prints frames full of locals. :class:`SecretMasking` masks at
each exit: the terminal writer (whatever pytest prints: reports, tracebacks of interrupts and
internal errors, the summary), the captured output before a report is made from it, reports
before any other plugin (pytest-json-report, xdist's worker, a reporter) reads them, internal
errors where they happen (an xdist worker's before it sends them), all that is printed of an
exception that ends the session (``pytest.exit`` too), prints from ``pytest_sessionfinish``
and ``pytest_terminal_summary``, the junit xml document before it is written, the log file and
live log, warnings, ``--debug`` traces, and what ``sys.unraisablehook`` prints as the process
exits. A secret too short to be masked everywhere is
named (never shown) at the end of the run. What
counts as a secret is the run's registry's (:mod:`pytest_barapi.known_secrets`), and its one
masker finds them, in every form (:mod:`pytest_barapi.masking`).
"""

from __future__ import annotations

import atexit
import contextlib
import linecache
import logging
import sys
import warnings
import weakref
from collections.abc import Generator
from typing import Any, TextIO

import pytest

from pytest_barapi.known_secrets import KnownSecrets
from pytest_barapi.masking import SHORT, Masker, too_short


class SecretMasking:
    """The pytest plugin that masks known secrets in reports, warnings, log output and --debug
    traces, before anything prints or serializes them."""

    def __init__(self, known: KnownSecrets, config: pytest.Config) -> None:
        self.masker = known.masker()
        self.config = config
        # The reports masked as they were made: what is added to them later is masked again.
        self._made: weakref.WeakSet[pytest.TestReport] = weakref.WeakSet()
        self._warned: set[str] = set()
        self.mask_terminal(config)
        self.mask_trace(config.pluginmanager.trace.root)
        _mask_at_exit(self.masker)
        # pytest's logging plugin exists from its own (trylast) pytest_configure on: when
        # this is registered mid-run, there is no pytest_sessionstart to wait for.
        logging_plugin = config.pluginmanager.get_plugin("logging-plugin")
        if logging_plugin is not None:
            self.mask_log_output(logging_plugin)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        # Registered at start-up, this may have come before the terminal reporter existed.
        self.mask_terminal(session.config)
        logging_plugin = session.config.pluginmanager.get_plugin("logging-plugin")
        self.mask_log_output(logging_plugin)

    # The innermost wrapper (trylast; registered after the other plugins): what the test
    # captured is masked before the report is made from it, and the report before any other
    # wrapper reads it (pytest-json-report copies the captured output there; pytest-html reads
    # the report).
    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        if item._report_sections and self.masker.known.values():
            item._report_sections[:] = [
                (when, self.masker.mask(key), self.masker.mask(text))
                for when, key, text in item._report_sections
            ]
        report = yield
        self.scrub_report(report)
        self._made.add(report)
        return report

    # tryfirst: after every plugin has made the report (pytest's skipping sets an xfail's
    # reason after the wrapper above; under xdist the controller gets the report here only),
    # and before any reporter (terminal, junitxml, xdist's worker, pytest-json-report) reads it.
    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report in self._made:
            self._scrub_additions(report)
        else:
            self.scrub_report(report)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_make_collect_report(
        self,
    ) -> Generator[None, pytest.CollectReport | None, pytest.CollectReport | None]:
        report = yield
        if report is not None:
            self.scrub_report(report)
        return report

    # The session-level hooks an exception can end the run from: pytest or Python prints it
    # (pytest.exit's reason, an error raised in a conftest hook) straight to stderr.
    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_collection(self) -> Generator[None, object, object]:
        return (yield from self._masking_what_ends_the_run())

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtestloop(self) -> Generator[None, object, object]:
        return (yield from self._masking_what_ends_the_run())

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_sessionfinish(self) -> Generator[None, object, object]:
        # Before junitxml's own hook writes the document: what record_xml_attribute and
        # record_testsuite_property put there never went through a report.
        self.mask_junit_xml()
        # Capture is off here: what a conftest's pytest_sessionfinish or
        # pytest_terminal_summary prints goes straight to the terminal.
        with self.masking_prints():
            return (yield from self._masking_what_ends_the_run())

    @contextlib.contextmanager
    def masking_prints(self) -> Generator[None, None, None]:
        """Mask what is printed to ``sys.stdout`` and ``sys.stderr`` meanwhile."""
        streams = {name: getattr(sys, name) for name in ("stdout", "stderr")}
        for name, stream in streams.items():
            if stream is not None and not isinstance(stream, MaskingStream):
                setattr(sys, name, MaskingStream(stream, self.masker))
        try:
            yield
        finally:
            for name, stream in streams.items():
                if isinstance(getattr(sys, name), MaskingStream):  # else someone set their own
                    setattr(sys, name, stream)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        # Which secrets are too short to mask everywhere: named by kind, never by value.
        for kind in too_short(self.masker.known):
            if kind not in self._warned:
                self._warned.add(kind)
                terminalreporter.write_line(
                    f"barapi: warning: the {kind} is shorter than {SHORT} characters: it is "
                    "masked only where it stands as a whole value (quoted, in parentheses, "
                    "after = or :, alone on a line or the rest of a diff's line)",
                    yellow=True,
                )

    def _masking_what_ends_the_run(self) -> Generator[None, object, object]:
        try:
            return (yield)
        except BaseException as error:
            self.mask_exception(error)
            raise

    # An internal error (of a conftest hook, say) is printed, or under xdist sent by the worker
    # to the controller, which may not know the worker's secrets: masked where it happens.
    @pytest.hookimpl(tryfirst=True)
    def pytest_internalerror(self, excrepr: Any) -> None:
        self._scrub_repr(excrepr, set())

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
            self._scrub_additions(report)

    def _scrub_additions(self, report: pytest.TestReport) -> None:
        """Mask what was added to ``report`` after it was made: an xfail's reason, and what
        other plugins attach (pytest-json-report's copies of the captured output and log
        records), in place: a plugin may hold the same dict elsewhere. What is neither a
        dict, a list nor a string (a tuple, bytes, requests' headers, any object a log record
        carries in ``extra``) is serialized by its text (``default=str``): one whose text
        reveals a secret is replaced by its masked text."""
        wasxfail = getattr(report, "wasxfail", None)
        if isinstance(wasxfail, str):
            report.wasxfail = self.masker.mask(wasxfail)
        seen: set[int] = set()
        for name, value in list(vars(report).items()):
            if name not in _REPORT_FIELDS:
                masked = _masked(value, self.masker, seen)
                if masked is not value:
                    setattr(report, name, masked)

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

    def mask_exception(self, error: BaseException) -> None:
        """Mask, in place, all that Python or pytest prints of ``error`` and of the exceptions
        it holds: its args of any type, its notes, what its class prints besides (an
        OSError's file names, a CalledProcessError's command and output, pytest.exit's
        reason: any attribute it keeps), the exceptions of a group, its cause and context."""
        walked: set[int] = set()
        # Every exception found so far, which _masked keeps as it is in a list or tuple (it is
        # masked in place when its turn comes) rather than making it its masked text: a group's
        # args hold its exceptions, and the exceptiongroup backport (before 3.11) prints the
        # ones it keeps in its instance's dict, which must stay exceptions.
        seen: set[int] = {id(error)}
        waiting: list[BaseException] = [error]
        while waiting:
            current = waiting.pop()
            if id(current) in walked:
                continue
            walked.add(id(current))
            group = getattr(current, "exceptions", None)  # an exception group's
            held = [current.__cause__, current.__context__]
            held += [*group] if isinstance(group, (tuple, list)) else []
            found = [*current.args, *vars(current).values()]
            more = [one for one in (*held, *found) if isinstance(one, BaseException)]
            seen.update(id(one) for one in more)
            waiting += more
            with contextlib.suppress(Exception):
                current.args = tuple(self._exception_part(arg, seen) for arg in current.args)
            # Kept in the instance's dict (cmd, output, stderr, __notes__, msg), or as members
            # of the built-in class (an OSError's or a SyntaxError's).
            for name in {*vars(current), *_PRINTED_MEMBERS}:
                # A property of the user's class may raise: the exception it would mask goes on.
                with contextlib.suppress(Exception):
                    value = getattr(current, name, None)
                    masked = self._exception_part(value, seen)
                    if masked is not value:
                        setattr(current, name, masked)

    def _exception_part(self, value: Any, seen: set[int]) -> Any:
        """``value`` masked (see :func:`_masked`), unless it is an exception: that one is
        masked in place, as the exceptions ``mask_exception`` walks."""
        if value is None or isinstance(value, BaseException):
            return value
        return _masked(value, self.masker, seen)

    def mask_terminal(self, config: pytest.Config) -> None:
        """Mask whatever the terminal reporter writes, as it writes it."""
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        writer = getattr(reporter, "_tw", None)  # what config.get_terminal_writer() returns
        stream = getattr(writer, "_file", None)
        if stream is not None and not isinstance(stream, MaskingStream):
            writer._file = MaskingStream(stream, self.masker)  # type: ignore[union-attr]

    def mask_junit_xml(self) -> None:
        """Mask the junit xml document (``--junitxml``) before it is written."""
        try:
            from _pytest.junitxml import xml_key
        except ImportError:  # pragma: no cover - a pytest that moved it: reports still masked
            return
        xml = self.config.stash.get(xml_key, None)
        if xml is None:
            return
        xml.global_properties = [
            (self.masker.mask(str(name)), self.masker.mask(str(value)))
            for name, value in xml.global_properties
        ]
        for reporter in xml.node_reporters_ordered:
            attrs = getattr(reporter, "attrs", None)  # gone once the test case is finalized
            if isinstance(attrs, dict):
                for name, value in attrs.items():
                    attrs[name] = self.masker.mask(str(value))
            _mask_element(reporter.to_xml(), self.masker)

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


class MaskingStream:
    """A text stream that masks every write on its way to ``stream``; the rest is ``stream``'s."""

    def __init__(self, stream: TextIO, masker: Masker) -> None:
        self._stream = stream
        self._masker = masker

    def write(self, text: str) -> int:
        return self._stream.write(self._masker.mask(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


# The masker of the process's latest run: what is printed once pytest is done is masked with it.
_AT_EXIT: dict[str, Masker] = {}


def _mask_at_exit(masker: Masker) -> None:
    """Mask, from the process's exit on, what ``sys.unraisablehook`` prints: an exception
    nothing can catch (a ``__del__`` that raises as the interpreter clears a test module's
    globals) is printed after pytest gave back the hook it had replaced."""
    if not _AT_EXIT:
        atexit.register(_masking_the_unraisable)
    _AT_EXIT["masker"] = masker


def _masking_the_unraisable() -> None:
    masker = _AT_EXIT["masker"]
    printing = sys.unraisablehook

    def masked(unraisable: Any) -> None:
        # The hook prints to whatever sys.stderr is when it runs.
        stderr = sys.stderr
        if stderr is None or isinstance(stderr, MaskingStream):
            printing(unraisable)
            return
        sys.stderr = MaskingStream(stderr, masker)
        try:
            printing(unraisable)
        finally:
            sys.stderr = stderr

    sys.unraisablehook = masked


def _mask_element(element: Any, masker: Masker) -> None:
    """Mask an xml.etree element's attributes and text, and its children's, in place."""
    for child in element.iter():
        for name, value in child.attrib.items():
            child.attrib[name] = masker.mask(value)
        if child.text:
            child.text = masker.mask(child.text)
        if child.tail:
            child.tail = masker.mask(child.tail)


# What a built-in exception prints that is not in its instance dict (nor in its args).
_PRINTED_MEMBERS = ("msg", "filename", "filename2", "text")

# What pytest itself puts in a report; anything else was attached by another plugin.
_REPORT_FIELDS = frozenset(
    {
        "nodeid", "location", "keywords", "outcome", "longrepr", "when", "user_properties",
        "sections", "duration", "start", "stop", "wasxfail", "result", "fspath",
    }
)  # fmt: skip


def _mask_in_place(value: Any, masker: Masker, seen: set[int]) -> None:
    """Mask whatever the dicts and lists of ``value`` (and theirs) hold, in place."""
    if id(value) in seen:
        return
    seen.add(id(value))
    keys: Any = value.keys() if type(value) is dict else range(len(value))
    for key in list(keys):
        item = value[key]
        masked = _masked(item, masker, seen)
        if masked is not item:
            value[key] = masked


def _masked(value: Any, masker: Masker, seen: set[int]) -> Any:
    """``value`` with every secret it shows masked, whatever its type: a string masked, a dict
    or list masked in place (a plugin may hold it elsewhere), a tuple rebuilt from its masked
    items; anything else (bytes, requests' headers, an object) whose text reveals a secret
    becomes its masked text, as a reporter that serializes it by ``str`` would write it;
    but an exception whose id is in ``seen`` stays itself: SecretMasking.mask_exception
    masks that one in place."""
    if isinstance(value, str):
        masked = masker.mask(value)
        return value if masked == value else masked
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, BaseException) and id(value) in seen:
        return value
    if type(value) in (dict, list):
        _mask_in_place(value, masker, seen)
        return value
    if type(value) is tuple:
        items = tuple(_masked(item, masker, seen) for item in value)
        return value if all(new is old for new, old in zip(items, value, strict=True)) else items
    try:
        text = str(value)
        shown = repr(value)
    except Exception:
        return value  # nothing can print it either
    if masker.reveals(text) or masker.reveals(shown):
        return masker.mask(text)
    return value


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
