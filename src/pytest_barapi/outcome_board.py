"""The pytest-xdist controller's board: each identity's outcome, and who decides it next.

The board keeps, for each identity, the outcome decided last (token or failure) and which
worker is deciding it now. Each worker, local or remote (``--tx ssh=…``, ``socket=…``,
``popen//via=…``), talks to it over an execnet channel that the controller hands over in
``workerinput``, next to xdist's own; :mod:`pytest_barapi.sharing` is the worker's end. Nothing
is written to disk on any machine, and a worker killed mid-exchange leaves nothing behind.

Per identity, a worker asks "decide", saying which generation of the outcome it holds. The
board answers with a newer outcome if it has one; else the first asker is told the turn is
its own and the others wait in line. The one whose turn it is does the work (exchange or
renewal) and reports the outcome, which becomes the next generation and answers everyone in
line. So a wrong password is one request for the whole run, and a renewal is one per expiry:
generations, not tokens, are compared, since a server may hand back the same access token
on refresh. A worker that dies with the turn (its channel closes) hands it to the next in line.

Workers name identities by an HMAC keyed with a random per-run key that the controller hands
them with the channel, and that lives only in memory: the board's books hold no credential.
What a worker learns is secret (a factory's password, a keyring answer, a token) reaches the
controller's secret registry (:mod:`pytest_barapi.known_secrets`) the same way, only so that
the controller masks it in what it prints: the controller masks from the first secret it
learns, so a run whose workers never learn one never pays for masking. Without xdist workers
nothing here runs.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import pytest

from pytest_barapi import clock
from pytest_barapi.known_secrets import KnownSecrets

if TYPE_CHECKING:
    from execnet import Channel

    from pytest_barapi.keyring_and_prompt import SecretSources

WORKERINPUT = "barapi_sharing"

# Annotated, not subscripted: see plugin.py's stash keys.
_board_key: pytest.StashKey[OutcomeBoard] = pytest.StashKey()
CLOSED = ("closed",)  # what execnet hands the board's callback when a worker's channel closes


def connect(
    config: pytest.Config,
    node: Any,
    known_secrets: KnownSecrets,
    secret_sources: SecretSources | None = None,
    on_secret: Callable[[], None] | None = None,
) -> None:
    """Controller side, for each xdist worker about to start: open its line to the board.

    Every worker gets one, whatever the settings: a worker may learn a secret the controller
    cannot see (a password given to ``barapi_session_factory``) and must tell it, so that the
    controller masks it too. Runs before xdist starts the worker's code and sends it
    ``workerinput``: the channel travels inside it, so no second ``remote_exec`` is needed
    (xdist's gateways run one at a time). Opening a channel sends nothing; a run whose tests
    need no token exchanges nothing, and the controller masks (``on_secret``) only once a
    worker tells it a secret. ``secret_sources``: the person at this terminal, for a
    secret a worker could not find.
    """
    board = config.stash.get(_board_key, None)
    if board is None:
        board = config.stash[_board_key] = OutcomeBoard(known_secrets, secret_sources, on_secret)
    channel = node.gateway.newchannel()
    board.listen(channel)
    node.workerinput[WORKERINPUT] = {
        "channel": channel,
        "key": board.run_key,
        # A cassette is recorded by whichever worker decides first: only where every worker
        # runs in the controller's directory on its machine does it land where users look.
        # Decided for the whole run, so that a run does not record or not by chance.
        "may_record": all(_local(spec) for spec in _specs(node)),
    }


def _specs(node: Any) -> list[Any]:
    """Every worker's spec, as the node manager holds them (``[None]`` if it holds none)."""
    return list(getattr(node.nodemanager, "specs", None) or [None])


def _local(spec: Any) -> bool:
    """Whether the worker of ``spec`` runs on this machine, in this directory: an execnet
    ``popen`` spec without ``via`` or ``chdir``. Anything else (a stand-in that is no execnet
    spec, as in pytest-xdist's own tests) may run anywhere."""
    return bool(
        getattr(spec, "popen", None)
        and not getattr(spec, "via", None)
        and not getattr(spec, "chdir", None)
    )


@dataclass
class _Entry:
    """The board's record of one identity."""

    generation: int = 0  # 0: nothing decided yet
    outcome: dict[str, Any] | None = None
    # The token's age when it arrived (on the decider's clock) and when that was (on ours):
    # workers on other machines count its lifetime from their own clock.
    age: float = 0.0
    arrived: float = 0.0
    turn: tuple[Channel, int] | None = None  # the channel and request deciding it now
    waiting: list[tuple[Channel, int, int]] = field(default_factory=list)

    def answer(self, request: int) -> Message:
        age = self.age + clock.monotonic() - self.arrived
        return message(
            "outcome", request=request, generation=self.generation, outcome=self.outcome, age=age
        )

    def newer_than(self, held: int) -> bool:
        return self.outcome is not None and self.generation > held


# A message, the way pytest-xdist's own are: a name, and its keyword arguments (plain data,
# what execnet carries). Each name is handled by one method: ``worker_<name>`` on the board,
# ``_on_<name>`` on a worker (:class:`~pytest_barapi.sharing.SharedOutcomes`).
Message = tuple[str, dict[str, Any]]
Reply = tuple["Channel", Message]


def message(name: str, /, **kwargs: Any) -> Message:
    return (name, kwargs)


class OutcomeBoard:
    """Controller side: each identity's outcome, and who decides it next.

    Its callback runs in execnet's receiver threads, one per worker: it never blocks. It only
    keeps the books under a short lock and sends the answers after letting go of it.

    The messages (``key`` names the identity, ``request`` numbers a worker's questions,
    ``outcome`` is :func:`~pytest_barapi.outcome.to_json`'s), each handled by one method::

        worker -> board   decide(request, key, held)   held: generation held, 0 for none
                          decided(request, key, outcome, age)   age of the token in seconds
                          withdraw(request, key)   gave up waiting, or its work raised
                          ask(request, name, key)   a secret's name, user or client id
                          secrets(entries)   what the worker's registry learnt
                                             (:meth:`~pytest_barapi.known_secrets.KnownSecrets.learn`)
                          found(name, where)   where it found a secret: "keyring" or "prompt"
                          waiting(on, request, process)   its keyring read begins (true;
                                        request to answer once noted, and the worker's
                                        process id) or is over (false, neither): a backend
                                        may prompt on the controller's terminal
        board -> worker   outcome(request, generation, outcome, age)
                          yours(request, generation)   generation decided so far
                          answer(request, answer)   the person's answer or None
                          noted(request)   the keyring read begins, noted
    """

    def __init__(
        self,
        known_secrets: KnownSecrets | None = None,
        secret_sources: SecretSources | None = None,
        on_secret: Callable[[], None] | None = None,
    ) -> None:
        self.run_key = os.urandom(16).hex()
        # The controller prints too (a worker's crash, the summary): it masks what it holds,
        # the secrets its workers learnt included, from the first one on (``on_secret``).
        self.known_secrets = known_secrets if known_secrets is not None else KnownSecrets()
        self._on_secret = on_secret
        # The person at the controller's terminal, for a secret no worker could find.
        self.secret_sources = secret_sources
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        # Each worker's messages arrive on a thread of its own gateway.
        self._learning = threading.Lock()

    def _learnt(self) -> None:
        """A secret was learnt here: the controller masks from now on (before the reports
        the worker sends after its secrets, which arrive behind them on the same gateway)."""
        if self._on_secret is not None:
            with self._learning:
                self._on_secret()

    def listen(self, channel: Channel) -> None:
        channel.setcallback(partial(self.handle, channel), endmarker=CLOSED)

    def handle(self, channel: Channel, received: Any) -> None:
        """One message from a worker, or ``CLOSED`` when its channel closes."""
        try:
            if received is CLOSED:
                name, kwargs = "closed", {}
            else:
                name, kwargs = received
            method = getattr(self, f"worker_{name}")
            if name in ("ask", "secrets", "found", "waiting"):
                # No books to keep: no lock (a person takes their time, on a thread of its own).
                method(channel, **kwargs)
                return
            with self._lock:
                replies = method(channel, **kwargs)
        except Exception:
            # Not our protocol: nothing to answer. Raising would close the worker's line, and
            # execnet would send the exception's text (which may quote the message) along.
            return
        for target, reply in replies:
            # Closed meanwhile: its own CLOSED hands any turn it got to the next in line.
            with contextlib.suppress(OSError, ValueError):
                target.send(reply)

    def worker_decide(self, channel: Channel, request: int, key: str, held: int) -> list[Reply]:
        entry = self._entries.setdefault(key, _Entry())
        entry.waiting.append((channel, request, int(held)))
        return self._hand_on(entry)

    def worker_decided(
        self, channel: Channel, request: int, key: str, outcome: Any, age: float
    ) -> list[Reply]:
        entry = self._entries.get(key, _Entry())
        if entry.turn != (channel, request):
            return []  # withdrawn meanwhile: someone else has the turn now
        entry.generation += 1
        entry.outcome, entry.age, entry.arrived = outcome, float(age), clock.monotonic()
        entry.turn = None
        return self._hand_on(entry)

    def worker_withdraw(self, channel: Channel, request: int, key: str) -> list[Reply]:
        entry = self._entries.get(key, _Entry())
        entry.waiting = [w for w in entry.waiting if w[:2] != (channel, request)]
        if entry.turn == (channel, request):
            entry.turn = None
        return self._hand_on(entry)

    def worker_ask(self, channel: Channel, request: int, name: str, key: str) -> None:
        threading.Thread(
            target=self._ask_the_person, args=(channel, request, name, key), daemon=True
        ).start()

    def worker_secrets(self, channel: Channel, entries: list[Any]) -> None:
        self.known_secrets.learn([tuple(entry) for entry in entries])
        if entries:  # a worker that knows none yet says so too
            self._learnt()

    def worker_found(self, channel: Channel, name: str, where: str) -> None:
        # Where a worker found a secret, for the summary the controller prints.
        if self.secret_sources is not None:
            self.secret_sources.found_elsewhere(name, where)

    def worker_waiting(
        self, channel: Channel, on: bool, request: int | None = None, process: int | None = None
    ) -> None:
        # The run's end gives the terminal back, and SIGTERM ends the run as at a prompt.
        if self.secret_sources is not None:
            pid = process if isinstance(process, int) else None
            self.secret_sources.terminal.waiting_elsewhere(channel, bool(on), pid)
        if request is not None:
            with contextlib.suppress(OSError, ValueError):
                channel.send(message("noted", request=request))

    def worker_closed(self, channel: Channel) -> list[Reply]:
        replies: list[Reply] = []
        for entry in self._entries.values():
            entry.waiting = [w for w in entry.waiting if w[0] is not channel]
            if entry.turn is not None and entry.turn[0] is channel:
                entry.turn = None  # it died deciding (kill -9, a crash): the next one decides
            replies += self._hand_on(entry)
        return replies

    def _ask_the_person(self, channel: Channel, request: int, name: str, key: str) -> None:
        answer = None
        with contextlib.suppress(Exception):  # no answer is the usual missing credentials
            if self.secret_sources is not None:
                answer = self.secret_sources.ask(name, key)
        if answer:
            self.known_secrets.add_pair(key, answer, kind=name)
            self._learnt()
        with contextlib.suppress(OSError, ValueError):
            channel.send(message("answer", request=request, answer=answer))

    @staticmethod
    def _hand_on(entry: _Entry) -> list[Reply]:
        """Answer whoever in line can be answered; give the turn to the first who cannot."""
        replies: list[Reply] = []
        still_waiting = []
        for channel, request, held in entry.waiting:
            if entry.newer_than(held):
                replies.append((channel, entry.answer(request)))
            elif entry.turn is None:
                entry.turn = (channel, request)
                replies.append(
                    (channel, message("yours", request=request, generation=entry.generation))
                )
            else:
                still_waiting.append((channel, request, held))
        entry.waiting = still_waiting
        return replies
