"""The person's terminal while barapi asks for a secret: given back as it was, however the run ends.

getpass turns the echo off for its prompt and back on when it returns. When it does not return,
the terminal stays silent after the run: under pytest-xdist the prompt waits on a thread of the
controller, and Ctrl-C ends the run in the main thread while that thread still waits; a keyring
backend that prompts (an encrypted file keyring) may still wait when its read times out. So the
terminal's state is saved before each such wait, and put back when the run ends while one is
still on (:meth:`PromptTerminal.give_back`, from ``pytest_unconfigure``).

SIGTERM and SIGHUP (the terminal closed) end a process at once: no summary, pytest-xdist's
workers left to notice, and the terminal as the prompt left it. While a prompt is up they end
the run as Ctrl-C does instead: pytest's interrupted summary, the workers shut down. Only a
signal left to its default action is taken over, and only while a prompt is up: with no prompt
up, the handler does what the default does. Python runs signal handlers in the main thread
only, so they are put in place from there: around a prompt in the main thread, or for the
whole run in a pytest-xdist controller that may ask for its workers (:meth:`catch_signals`).
"""

from __future__ import annotations

import contextlib
import getpass
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
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

    def ask(self, prompt: str) -> str | None:
        """The person's answer, typed without echo; None for an empty answer, Ctrl-D, or no
        terminal. Ctrl-C (and, while it waits, SIGTERM or SIGHUP) ends the run."""
        on_main_thread = threading.current_thread() is threading.main_thread()
        caught_here = on_main_thread and not self._previous and self.catch_signals()
        try:
            with self.kept(), self._prompt_up():
                try:
                    # getpass talks to /dev/tty itself: pytest's capture is no obstacle.
                    return getpass.getpass(prompt) or None
                except (EOFError, OSError, _TerminalError):
                    # Also a terminal closed under the prompt. Its SIGHUP may reach the main
                    # thread only after this thread saw the end: it still ends the run.
                    if _terminal_state() is None:
                        self._closed_under_a_prompt = True
                    return None
                finally:
                    if on_main_thread and self._closed_under_a_prompt and self._ended_by is None:
                        # The terminal closed: its SIGHUP may not have been handled yet, and
                        # must not find the default action (death, no summary) once it is.
                        self._ended_by = getattr(signal, "SIGHUP", signal.SIGTERM)
                    # The main thread ends the run; a prompt on another one just stops asking.
                    if self._ended_by is not None and on_main_thread:
                        raise KeyboardInterrupt
        finally:
            # Ended: the signals stay caught (a late SIGHUP is ignored) until the run's end
            # releases them.
            if caught_here and self._ended_by is None:
                self.release_signals()

    @contextlib.contextmanager
    def kept(self) -> Iterator[None]:
        """Within the block, whatever changes the terminal and never returns (a prompt on
        another thread, a keyring backend that times out) leaves it to :meth:`give_back`."""
        with self._lock:
            self._waits += 1
            wait = self._waits
        saved = _terminal_state()
        if saved is not None:
            with self._lock:
                self._saved[wait] = saved
        try:
            yield
        finally:
            with self._lock:
                saved = self._saved.pop(wait, None)
            if saved is not None:
                _close(saved[0])

    def give_back(self) -> None:
        """Put the terminal back as it was before the first wait still on (the end of a run)."""
        with self._lock:
            saved, self._saved = sorted(self._saved.items()), {}
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

    @contextlib.contextmanager
    def _prompt_up(self) -> Iterator[None]:
        with self._lock:
            self._prompts_up += 1
        try:
            yield
        finally:
            with self._lock:
                self._prompts_up -= 1

    def _ending(self, signum: int, frame: FrameType | None) -> None:
        if (self._prompts_up or self._closed_under_a_prompt) and self._ended_by is None:
            self._ended_by = signum
            # Now, not at the end of the run: the person sees their terminal answer again
            # while pytest and its workers shut down.
            self.give_back()
            raise KeyboardInterrupt
        if self._ended_by is not None and signum == getattr(signal, "SIGHUP", None):
            # A closed terminal signals the session leader and, through the shell, each job:
            # the run already ends for it.
            return
        # No prompt up, or asked twice to end: what the default does, end the process.
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)


if sys.platform == "win32":  # getpass reads the console there: its echo needs no care
    _TerminalError: type[Exception] = OSError

    def _terminal_state() -> tuple[int, list[Any]] | None:
        return None

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

    def _restore(fd: int, state: list[Any]) -> None:
        # TCSAFLUSH, as getpass does: a half-typed password is dropped, not left for the shell.
        with contextlib.suppress(termios.error, OSError):  # a terminal closed meanwhile
            termios.tcsetattr(fd, termios.TCSAFLUSH, state)


def _close(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)
