"""Where a password or client secret set nowhere else comes from on a person's machine.

The settings come first (CLI > env > ini); what they leave unset is looked up, only when a grant
is about to be sent, in the system keyring (``pip install pytest-barapi[keyring]``), and then
asked for once on the terminal, the way twine, git and psql do. Neither happens in CI (``CI``
set), so CI runs behave as before; the prompt also needs a terminal: no run may hang waiting
for input. A secret found here is a :class:`Secret` like any other.
"""

from __future__ import annotations

import getpass
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from pytest_barapi.identity import Identity
from pytest_barapi.secrets import Secret

# What each secret is called in the prompt.
CALLED = {"password": "password", "client_secret": "client secret"}


@dataclass
class SecretSources:
    """Completes an identity's missing secrets from the keyring, then a prompt.

    ``on_a_machine`` is false in CI: nothing is looked up there. ``interactive`` says whether a
    person is there to answer: a terminal on stdin when the run started, and not in CI. Each
    secret is looked up once per run; an empty answer or Ctrl-D leaves it missing (the usual
    "missing credentials" error follows).
    """

    url: str
    on_a_machine: bool
    interactive: bool
    # A pytest-xdist worker has no terminal: it asks the controller to ask the person.
    ask_elsewhere: Callable[[str, str], str | None] | None = None
    # Where each secret found came from ("keyring" or "prompt"), for the terminal summary.
    found: dict[str, str] = field(default_factory=dict)
    _answers: dict[tuple[str, str], Secret | None] = field(default_factory=dict)
    _asked: dict[tuple[str, str], str | None] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _asking: threading.Lock = field(default_factory=threading.Lock)

    def complete(self, identity: Identity) -> Identity:
        """``identity`` with each missing secret filled in, where one can be found."""
        password, client_secret = identity.password, identity.client_secret
        if not password and identity.user:
            password = self._secret("password", identity.user)
        if not client_secret and identity.client_id:
            client_secret = self._secret("client_secret", identity.client_id)
        return identity.overridden(password=password, client_secret=client_secret)

    def _secret(self, name: str, key: str) -> Secret | None:
        """The secret ``name`` of ``key`` (a user, or a client id), looked up once per run."""
        with self._lock:  # one prompt, even if two threads need the token at once
            if (name, key) not in self._answers:
                self._answers[(name, key)] = self._look_up(name, key)
            return self._answers[(name, key)]

    def _look_up(self, name: str, key: str) -> Secret | None:
        if not self.on_a_machine:
            return None
        value = from_keyring(self.url, key)
        if value:
            self.found[name] = "keyring"
            return Secret(value)
        if not self.interactive and self.ask_elsewhere is not None:
            value = self.ask_elsewhere(name, key)
        else:
            value = self.ask(name, key)
        if value:
            self.found[name] = "prompt"
            return Secret(value)
        return None

    def ask(self, name: str, key: str) -> str | None:
        """The person's answer for the secret ``name`` of ``key``, asked at most once per run;
        None without a person to ask. (The xdist controller asks this for its workers.)"""
        if not self.interactive:
            return None
        with self._asking:
            if (name, key) not in self._asked:
                prompt = f"barapi {CALLED[name]} for {key} at {self.url}: "
                self._asked[(name, key)] = from_prompt(prompt)
                if self._asked[(name, key)]:
                    self.found[name] = "prompt"
            return self._asked[(name, key)]


def from_keyring(service: str, username: str) -> str | None:
    """The keyring's secret for ``username`` at ``service``; None without keyring or backend."""
    try:
        import keyring
        from keyring.errors import KeyringError
    except ImportError:
        return None
    try:
        value: str | None = keyring.get_password(service, username)
    except (KeyringError, RuntimeError, OSError):
        return None  # no usable backend: as if there were no keyring
    return value


def from_prompt(prompt: str) -> str | None:
    """Ask on the terminal, without echo; None for an empty answer or Ctrl-D. (Ctrl-C stops
    the run, as it would anywhere else.)"""
    try:
        # getpass talks to /dev/tty itself, so pytest's capture of stdin/stdout is no obstacle.
        return getpass.getpass(prompt) or None
    except (EOFError, OSError):
        return None


def for_this_run(
    url: str,
    stdin_is_a_terminal: bool,
    ask_elsewhere: Callable[[str, str], str | None] | None = None,
) -> SecretSources:
    """The sources for a run: none in CI; a prompt only with a terminal on stdin (or, for an
    xdist worker, ``ask_elsewhere``: the controller's terminal)."""
    on_a_machine = not os.environ.get("CI")
    interactive = on_a_machine and stdin_is_a_terminal
    return SecretSources(url, on_a_machine, interactive, ask_elsewhere)
