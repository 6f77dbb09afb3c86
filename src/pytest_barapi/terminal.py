"""The person's terminal while barapi asks for a secret: given back as it was, however the run ends.

getpass turns the echo off for its prompt and back on when it returns. When it does not return,
the terminal stays silent after the run: under pytest-xdist the prompt waits on a thread of the
controller, and Ctrl-C ends the run in the main thread while that thread still waits; a keyring
backend that prompts (keyrings.alt's encrypted file keyring) may still wait when its read times
out, on the thread that reads it, in the process or in a pytest-xdist worker. So the terminal's
state is saved before the run's first such wait and put back, if it changed, when the run ends
(:meth:`PromptTerminal.give_back`, from ``pytest_unconfigure``): waits that overlap (two
pytest-xdist workers whose keyrings prompt at once) each save the other's echo-off state and
may restore it when they return. A worker tells its controller while its keyring read is on,
and the controller gives the terminal back as it was before its workers started.

SIGTERM and SIGHUP (the terminal closed) end a process at once: no summary, pytest-xdist's
workers left to notice, and the terminal as the prompt left it. While a wait is on (a prompt,
a keyring read) they end the run as Ctrl-C does instead: pytest's interrupted summary, the
workers shut down. Ctrl-C reaches every process of the run, a SIGTERM (``kill``) only the
controller, which passes Ctrl-C on to each local worker whose keyring read is on: stuck in it,
the worker would hold up the run's end until pytest-xdist gave up waiting (5 s and more). Only
a signal left to its default action is taken over, and only while a wait is on: with none on,
the handler does what the default does. Python runs signal handlers in the main thread only,
so they are put in place from there: around a prompt in the main thread, from the first
keyring read at a terminal to the end of the run, or for the whole run in a pytest-xdist
controller at a terminal, whatever its stdin (it may ask for its workers, and their keyrings
may prompt there) (:meth:`catch_signals`).
"""

from __future__ import annotations

import contextlib
import getpass
import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

# The signals that end a run at a terminal without Ctrl-C's clean-up.
ENDING = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))

Handler = Callable[[int, FrameType | None], Any] | int | None


class PromptTerminal:
    """The controlling terminal of this process, around each wait on it."""

    def __init__(self) -> None:
        # The terminal's state before each wait still on, by wait: (an open tty, its state).
        self._saved: dict[int, tuple[int, list[Any]]] = {}
        self._prompts_up = 0
        self._ended_by: int | None = None  # the signal that ended the run at a prompt
        self._closed_under_a_prompt = False
        self._previous: dict[int, Handler] = {}
        # Re-entrant: the signal handler gives the terminal back, in whatever the main thread
        # was doing, possibly holding it.
        self._lock = threading.RLock()
        self._waits = 0
        # A pytest-xdist controller's terminal before its workers started, and the waits on
        # it its workers said are on, by worker.
        self._before: tuple[int, list[Any]] | None = None
        self._elsewhere: dict[object, list[int]] = {}
        # The process of each worker with a wait on, where it said (a SIGTERM interrupts it).
        self._processes_elsewhere: dict[object, int] = {}
        # The terminal before the run's first wait on it: what the run's end gives back.
        self._first: tuple[int, list[Any]] | None = None

    def ask(self, prompt: str) -> str | None:
        """The person's answer, typed without echo; None for an empty answer, Ctrl-D, or no
        terminal. Ctrl-C (and, while it waits, SIGTERM or SIGHUP) ends the run."""
        on_main_thread = threading.current_thread() is threading.main_thread()
        caught_here = on_main_thread and not self._previous and self.catch_signals()
        try:
            wait = self.begin_wait()
            try:
                # getpass talks to /dev/tty itself: pytest's capture is no obstacle.
                return getpass.getpass(prompt) or None
            except (EOFError, OSError, _TerminalError):
                return None  # also a terminal closed under the prompt: end_wait sees to it
            finally:
                self.end_wait(wait)
                # The main thread ends the run; a prompt on another one just stops asking.
                if on_main_thread:
                    self.end_the_run_if_ended()
        finally:
            # Ended: the signals stay caught (a late SIGHUP is ignored) until the run's end
            # releases them.
            if caught_here and self._ended_by is None:
                self.release_signals()

    def begin_wait(self, remember: bool = True) -> int:
        """A wait on the terminal begins (a prompt, a keyring read that may prompt): its
        state is saved for :meth:`give_back`, and SIGTERM and SIGHUP, where caught, end the
        run as Ctrl-C does until :meth:`end_wait`, from whichever thread sees the wait end (a
        keyring read outlives its timeout on a thread of its own). ``remember`` false (a
        pytest-xdist worker, whose controller saw the terminal before any wait): the run's
        end gives back only the state of a wait still on."""
        with self._lock:
            self._waits += 1
            wait = self._waits
            self._prompts_up += 1
        saved = _terminal_state()
        if saved is not None:
            with self._lock:
                self._saved[wait] = saved
                if remember:
                    self._remember(saved)
        return wait

    def _remember(self, saved: tuple[int, list[Any]]) -> None:
        # The first wait's state, or the controller's from before its workers started (a
        # worker's wait may already be on when the controller's own prompt begins).
        if self._first is None:
            first = self._before or saved
            self._first = (os.dup(first[0]), first[1])

    def end_wait(self, wait: int) -> None:
        """The wait ``wait`` is over, and whatever waited put the terminal back itself."""
        with self._lock:
            had_a_terminal = wait in self._saved
        if had_a_terminal and not has_a_terminal():
            # Closed under the wait: its SIGHUP may reach the main thread only after this
            # thread saw the end, and must still end the run. Said before the wait counts as
            # over: a SIGHUP handled in between finds one or the other.
            self._closed_under_a_prompt = True
        with self._lock:
            self._prompts_up -= 1
            saved = self._saved.pop(wait, None)
        if saved is not None:
            _close(saved[0])

    def end_the_run_if_ended(self) -> None:
        """From the main thread, after a wait: KeyboardInterrupt (pytest's interrupted
        summary) if a signal or the terminal closing ended the run meanwhile."""
        if self._closed_under_a_prompt and self._ended_by is None:
            # The terminal closed: its SIGHUP may not have been handled yet, and must not
            # find the default action (death, no summary) once it is.
            self._ended_by = getattr(signal, "SIGHUP", signal.SIGTERM)
        if self._ended_by is not None:
            raise KeyboardInterrupt

    def as_it_is(self) -> None:
        """From a pytest-xdist controller, before its workers start: the terminal's state
        for :meth:`waiting_elsewhere`, which learns of a worker's wait only once it began."""
        with self._lock:
            if self._before is None:
                self._before = _terminal_state()

    def waiting_elsewhere(self, who: object, on: bool, process: int | None = None) -> None:
        """A pytest-xdist worker ``who`` began (``on``) or ended a wait on this terminal (a
        keyring read): until it ends, SIGTERM and SIGHUP end the run as at a prompt here,
        and the run's end gives the terminal back as :meth:`as_it_is` saw it. A worker that
        dies waiting never says it ended: its wait stays on to the run's end. ``process``:
        the worker's process id, which a SIGTERM here interrupts while its wait is on."""
        with self._lock:
            if on and process is not None:
                self._processes_elsewhere[who] = process
            if on and self._before is not None:
                self._waits += 1
                # A list: a read's end may be told after the next read's beginning.
                self._elsewhere.setdefault(who, []).append(self._waits)
                self._saved[self._waits] = (os.dup(self._before[0]), self._before[1])
                self._remember(self._before)
                self._prompts_up += 1
                return
            waits = self._elsewhere.get(who) if not on else None
            wait = waits.pop(0) if waits else None
            if not on and not waits:
                self._processes_elsewhere.pop(who, None)
        if wait is not None:
            self.end_wait(wait)

    def give_back(self) -> None:
        """Put the terminal back as it was before the run's first wait on it (the end of a
        run), or, where none was remembered, before the first wait still on."""
        with self._lock:
            saved, self._saved = sorted(self._saved.items()), {}
            before, self._before = self._before, None
            first, self._first = self._first, None
        if before is not None:
            _close(before[0])
        if first is not None:
            saved.insert(0, (0, first))
        for index, (fd, state) in enumerate(state for _wait, state in saved):
            if index == 0:
                _restore(fd, state)
            _close(fd)

    def catch_signals(self) -> bool:
        """From the main thread: SIGTERM and SIGHUP, where left to their default, end the run
        as Ctrl-C does while a prompt is up. True if any is now caught."""
        for signum in ENDING:
            with contextlib.suppress(ValueError, OSError):  # not the main thread, or no signal
                if signal.getsignal(signum) == signal.SIG_DFL:
                    signal.signal(signum, self._ending)
                    self._previous[signum] = signal.SIG_DFL
        return bool(self._previous)

    def release_signals(self) -> None:
        """From the main thread: each signal still caught here back to what it was (one that
        another handler has taken since is left to it)."""
        previous, self._previous = self._previous, {}
        for signum, handler in previous.items():
            with contextlib.suppress(ValueError, OSError):
                if signal.getsignal(signum) == self._ending:
                    signal.signal(signum, handler)

    def _ending(self, signum: int, frame: FrameType | None) -> None:
        if (self._prompts_up or self._closed_under_a_prompt) and self._ended_by is None:
            self._ended_by = signum
            # Now, not at the end of the run: the person sees their terminal answer again
            # while pytest and its workers shut down.
            self.give_back()
            if signum == getattr(signal, "SIGTERM", None):
                self._interrupt_elsewhere()
            raise KeyboardInterrupt
        if self._ended_by is not None and signum == getattr(signal, "SIGHUP", None):
            # A closed terminal signals the session leader and, through the shell, each job:
            # the run already ends for it.
            return
        # No prompt up, or asked twice to end: what the default does, end the process.
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)

    def _interrupt_elsewhere(self) -> None:
        # Ctrl-C as the terminal sends it, to the workers it would reach: those of this
        # process group (not a remote worker, whose process id means nothing here).
        with self._lock:
            processes = list(self._processes_elsewhere.values())
        for process in processes:
            with contextlib.suppress(OSError, AttributeError):  # gone, or no process groups
                if os.getpgid(process) == os.getpgrp():
                    os.kill(process, signal.SIGINT)


if sys.platform == "win32":  # getpass reads the console there: its echo needs no care
    _TerminalError: type[Exception] = OSError

    def _terminal_state() -> tuple[int, list[Any]] | None:
        return None

    def has_a_terminal() -> bool:
        return False

    def _restore(fd: int, state: list[Any]) -> None:
        pass

else:
    import termios

    _TerminalError = termios.error

    def _terminal_state() -> tuple[int, list[Any]] | None:
        """An open descriptor of the controlling terminal and its state; None without one."""
        try:
            fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
        except OSError:
            return None
        try:
            return fd, termios.tcgetattr(fd)
        except termios.error:
            _close(fd)
            return None

    def has_a_terminal() -> bool:
        """Whether this process has a controlling terminal, still open."""
        saved = _terminal_state()
        if saved is None:
            return False
        _close(saved[0])
        return True

    def _restore(fd: int, state: list[Any]) -> None:
        with contextlib.suppress(termios.error, OSError):  # a terminal closed meanwhile
            # Left alone if unchanged: what the person typed ahead stays theirs.
            if termios.tcgetattr(fd) != state:
                # TCSAFLUSH, as getpass does: a half-typed password is dropped, not left for
                # the shell.
                termios.tcsetattr(fd, termios.TCSAFLUSH, state)


def _close(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)
