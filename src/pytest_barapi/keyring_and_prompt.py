"""Where a password or client secret set nowhere else comes from on a person's machine.

The settings come first (CLI > env > ini); what they leave unset is looked up, only when a grant
is about to be sent, in the system keyring (``pip install pytest-barapi[keyring]``), and then
asked for once on the terminal, the way twine, git and psql do. Neither happens in CI (``CI``
set), so CI runs behave as before. The keyring is read with or without a terminal (an IDE's
runner has none), but never for longer than the timeout: a locked keychain or a keyring daemon
that does not answer is a one-line error, not a hung run. The prompt needs a terminal: no run
may hang waiting for input. A secret found here is a :class:`Secret` like any other.
"""

from __future__ import annotations

import enum
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from pytest_barapi import clock
from pytest_barapi.identity import Identity
from pytest_barapi.secrets import Secret
from pytest_barapi.terminal import PromptTerminal, has_a_terminal

# What each secret is called in the prompt.
CALLED = {"password": "password", "client_secret": "client secret"}
# Where a secret can be found here, as the terminal summary names it.
SOURCES = ("keyring", "prompt")


class Keyring(enum.Enum):
    SILENT = "did not answer in time"


@dataclass
class SecretSources:
    """Completes an identity's missing secrets from the keyring, then a prompt.

    ``on_a_machine`` is false in CI: nothing is looked up there. ``interactive`` says whether a
    person is there to answer: a terminal on stdin when the run started, and not in CI. Each
    secret is looked up once per process (under pytest-xdist, once per worker; the person is
    asked once, by the controller); an empty answer or Ctrl-D leaves it missing (the usual
    "missing credentials" error follows). A keyring that does not answer within ``timeout``
    seconds is not asked again by this process, and no prompt follows (the keyring may be
    waiting on the terminal itself): :meth:`keyring_silent_on` names what it left missing.
    """

    url: str
    on_a_machine: bool
    interactive: bool
    # A pytest-xdist worker has no terminal: it asks the controller to ask the person.
    ask_elsewhere: Callable[[str, str], str | None] | None = None
    timeout: float = 30.0
    # A pytest-xdist worker has no summary: it tells the controller where it found a secret.
    tell_elsewhere: Callable[[str, str], None] | None = None
    # A pytest-xdist worker tells the controller, which has the run's terminal, while its
    # keyring read is on (True, waiting at most the given seconds for the controller to note
    # it) and once it is over (False).
    tell_waiting: Callable[[bool, float], None] | None = None
    # Where each secret found came from ("keyring" or "prompt"), for the terminal summary.
    found: dict[str, str] = field(default_factory=dict)
    terminal: PromptTerminal = field(default_factory=PromptTerminal)
    _keyring_silent: set[tuple[str, str]] = field(default_factory=set)
    _answers: dict[tuple[str, str], Secret | None] = field(default_factory=dict)
    _asked: dict[tuple[str, str], str | None] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _asking: threading.Lock = field(default_factory=threading.Lock)

    def complete(self, identity: Identity) -> Identity:
        """``identity`` with each missing secret filled in, where one can be found."""
        password, client_secret = identity.password, identity.client_secret
        if not password and identity.user:
            password = self._secret("password", identity.user)
        # A public client has no secret to look up, nor to ask anyone for.
        if not client_secret and identity.client_id and not identity.public_client:
            client_secret = self._secret("client_secret", identity.client_id)
        return identity.overridden(password=password, client_secret=client_secret)

    def _secret(self, name: str, key: str) -> Secret | None:
        """The secret ``name`` of ``key`` (a user, or a client id), looked up once per process."""
        with self._lock:  # one prompt, even if two threads need the token at once
            if (name, key) not in self._answers:
                self._answers[(name, key)] = self._look_up(name, key)
            return self._answers[(name, key)]

    def at_a_terminal(self) -> bool:
        """Whether a keyring read may wait on this process's terminal: on a person's machine
        (``CI`` unset) with a controlling terminal, whatever stdin is (``pytest < /dev/null``).
        There SIGTERM and SIGHUP are taken over, and the terminal saved for the run's end."""
        return self.interactive or (self.on_a_machine and has_a_terminal())

    def keyring_silent_on(self, identity: Identity) -> list[str]:
        """The names of ``identity``'s missing secrets that the keyring did not answer for."""
        keys = {"password": identity.user, "client_secret": identity.client_id}
        return [
            name
            for name in identity.missing()
            if name in keys and (name, keys[name] or "") in self._keyring_silent
        ]

    def found_elsewhere(self, name: object, where: object) -> None:
        """A pytest-xdist worker found the secret ``name`` in ``where``: the controller's
        summary says so. Anything else a worker might send is not ours to print."""
        if name in CALLED and where in SOURCES:
            self.found.setdefault(str(name), str(where))

    def _look_up(self, name: str, key: str) -> Secret | None:
        if not self.on_a_machine:
            return None
        if self._keyring_silent:
            # It did not answer before and may still be busy: asking again would cost the
            # whole timeout again.
            self._keyring_silent.add((name, key))
            return None
        value = self._from_keyring(key)
        if value is Keyring.SILENT:
            self._keyring_silent.add((name, key))
            return None
        if value:
            self._found(name, "keyring")
            return Secret(value)
        if not self.interactive and self.ask_elsewhere is not None:
            value = self.ask_elsewhere(name, key)
        else:
            value = self.ask(name, key)
        if value:
            self._found(name, "prompt")
            return Secret(value)
        return None

    def _from_keyring(self, key: str) -> str | Literal[Keyring.SILENT] | None:
        """The keyring's answer, read as a wait on the terminal: a backend may ask for its own
        password there (keyrings.alt's EncryptedKeyring), with the echo off, for longer than
        the timeout. Until the read ends, the run's end gives the terminal back; in the
        process that has the run's terminal, SIGTERM and SIGHUP end the run as Ctrl-C does, with
        pytest's interrupted summary, as at barapi's own prompt (a pytest-xdist worker tells its
        controller, which has it)."""
        terminal = self.terminal
        on_main_thread = threading.current_thread() is threading.main_thread()
        if self.tell_waiting is None and on_main_thread and self.at_a_terminal():
            # Caught for the rest of the run (the run's end releases them): the read may
            # outlive its timeout. With no wait up, they do what their default does.
            terminal.catch_signals()
        # One deadline for the whole read, the controller's noting it included.
        deadline = clock.monotonic() + self.timeout
        wait = terminal.begin_wait(remember=self.tell_waiting is None)
        if self.tell_waiting is not None:
            self.tell_waiting(True, self.timeout)

        def over() -> None:
            terminal.end_wait(wait)
            if self.tell_waiting is not None:
                self.tell_waiting(False, 0.0)

        value = from_keyring(self.url, key, deadline - clock.monotonic(), over)
        if on_main_thread and self.tell_waiting is None:  # the process that ends the run
            terminal.end_the_run_if_ended()
        return value

    def _found(self, name: str, where: str) -> None:
        self.found[name] = where
        if self.tell_elsewhere is not None:
            self.tell_elsewhere(name, where)

    def ask(self, name: str, key: str) -> str | None:
        """The person's answer for the secret ``name`` of ``key``, asked at most once per run;
        None without a person to ask. (The xdist controller asks this for its workers.)"""
        if not self.interactive:
            return None
        with self._asking:
            if (name, key) not in self._asked:
                prompt = f"barapi {CALLED[name]} for {key} at {self.url}: "
                self._asked[(name, key)] = self.terminal.ask(prompt)
                if self._asked[(name, key)]:
                    self.found[name] = "prompt"
            return self._asked[(name, key)]


def from_keyring(
    service: str, username: str, timeout: float, over: Callable[[], None] | None = None
) -> str | Literal[Keyring.SILENT] | None:
    """The keyring's secret for ``username`` at ``service``; None without keyring or backend,
    with one that fails, or with one that answers anything but a string (bytes, a number:
    only a string is a password); ``Keyring.SILENT`` if it did not answer within ``timeout``
    seconds (at once if none is left: the backend is not asked). ``over`` is called once the
    backend is done, however late.

    The backend is asked on a thread of its own (a daemon: one that never answers does not
    keep the process alive), not in a subprocess: a backend chosen in a conftest
    (``keyring.set_keyring``) is only known in this process.
    """
    try:
        import keyring
    except ImportError:
        if over is not None:
            over()
        return None
    if timeout <= 0:
        if over is not None:
            over()
        return Keyring.SILENT
    answers: list[str | BaseException | None] = []

    def read() -> None:
        try:
            answer = keyring.get_password(service, username)
            answers.append(answer if isinstance(answer, str) else None)
        except Exception:
            # No usable backend, or one that broke (KeyringError, or what the system's own
            # API raises: macOS's keychain, pywintypes.error): as if there were no keyring.
            answers.append(None)
        except BaseException as error:  # raised again in the caller's thread
            answers.append(error)
        finally:
            if over is not None:
                over()

    reader = threading.Thread(target=read, name="barapi keyring read", daemon=True)
    reader.start()
    reader.join(timeout)
    if not answers:
        return Keyring.SILENT
    answer = answers[0]
    if isinstance(answer, BaseException):
        raise answer
    return answer


def for_this_run(
    url: str,
    stdin_is_a_terminal: bool,
    ask_elsewhere: Callable[[str, str], str | None] | None = None,
    timeout: float = 30.0,
    tell_elsewhere: Callable[[str, str], None] | None = None,
    tell_waiting: Callable[[bool, float], None] | None = None,
) -> SecretSources:
    """The sources for a run: none in CI; a prompt only with a terminal on stdin (or, for an
    xdist worker, ``ask_elsewhere``: the controller's terminal)."""
    on_a_machine = not os.environ.get("CI")
    interactive = on_a_machine and stdin_is_a_terminal
    return SecretSources(
        url, on_a_machine, interactive, ask_elsewhere, timeout, tell_elsewhere, tell_waiting
    )
