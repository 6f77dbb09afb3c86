"""A pytest-xdist worker's end of sharing each identity's outcome with the other workers.

The outcomes live in the controller's memory, on its :mod:`~pytest_barapi.outcome_board`,
which says how the turn to decide is handed on. A worker asks the board over the execnet
channel it found in ``workerinput``: it adopts the outcome another worker decided or, when the
turn is its own, does the work and reports the outcome back. A secret no worker can find is
asked of the person at the controller's terminal the same way, and each secret the worker's
registry learns is told to the controller's (:meth:`SharedOutcomes.tell_secrets`), which
masks what the controller prints. Identities are named by an HMAC keyed with the run's key,
so the board's books hold no credential. Without xdist workers nothing here runs:
:mod:`pytest_barapi.run` loads it only in a worker.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import os
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest

from pytest_barapi import clock
from pytest_barapi.identity import Identity
from pytest_barapi.outcome import Failure, Outcome, Setting, from_json, to_json
from pytest_barapi.outcome_board import WORKERINPUT, Message, message
from pytest_barapi.settings import Settings, server_called
from pytest_barapi.token import BarapiToken

if TYPE_CHECKING:
    from execnet import Channel

    from pytest_barapi.known_secrets import Entry

# While its turn lasts, a worker makes at most two grants (a refresh, then one password
# grant); each can take about twice the timeout (connect and read of the last try). Past that
# the worker is stuck, and waiting longer would only hang the run.
GRANTS_PER_TURN = 2
SLACK = 10.0

# How long a worker waits for the person at the controller's terminal to type a password.
PERSON_WAIT = 300.0


def lock_wait(settings: Settings) -> float:
    """How long a worker waits for another one's exchange before giving up."""
    return GRANTS_PER_TURN * 2 * settings.timeout + SLACK


def for_worker(config: pytest.Config, settings: Settings) -> SharedOutcomes | None:
    """Worker side: the run's sharing, or None (no xdist, ``-n 0``, or not an xdist worker)."""
    workerinput = getattr(config, "workerinput", None)
    shared = workerinput.get(WORKERINPUT) if workerinput else None
    if not shared:
        return None
    return SharedOutcomes(
        shared["channel"],
        shared["key"],
        lock_wait(settings),
        shared["may_record"],
        token_url=settings.token_url,
    )


class SharedOutcomes:
    """Worker side: the outcome of each identity, decided by one worker of the run."""

    def __init__(
        self,
        channel: Channel,
        run_key: str,
        wait: float,
        may_record: bool = True,
        *,
        token_url: str,
    ) -> None:
        self.wait = wait
        # Where the stuck exchange posts its grant: its failure names it, as every grant's does.
        self.token_url = token_url
        # False in a run with workers that may run elsewhere: a cassette would stay there.
        self.may_record = may_record
        self._channel = channel
        self._run_key = run_key
        self._generations: dict[str, int] = {}
        self._requests = itertools.count(1)
        self._lock = threading.Lock()

    def decide(
        self,
        identity: Identity,
        work: Callable[[], Outcome],
        stale: BarapiToken | None = None,
        purpose: str = "",
    ) -> Outcome:
        """The shared outcome for ``identity``, running ``work`` only if no worker has yet.

        With ``stale`` (a token this worker found expiring or rejected), an outcome decided
        after the one this worker holds is adopted instead of renewing again, so workers
        never stampede the token endpoint. A ``purpose`` (the live token beside a replayed
        one) is an outcome of its own for the same identity.
        """
        key = self._key(identity, purpose)
        with self._lock:
            held = self._generations.get(key, 0) if stale is not None else 0
            request = next(self._requests)
            reply = self._ask(message("decide", request=request, key=key, held=held), request, key)
            if isinstance(reply, Failure):
                return reply
            name, kwargs = reply
            handle = self._on_outcome if name == "outcome" else self._on_yours
            return handle(key, work, **kwargs)

    def _on_outcome(
        self,
        key: str,
        work: Callable[[], Outcome],
        request: int,
        generation: int,
        outcome: dict[str, Any],
        age: float,
    ) -> Outcome:
        """Another worker decided: its outcome, adopted."""
        self._generations[key] = generation
        return _on_our_clock(from_json(outcome), age)

    def _on_yours(
        self, key: str, work: Callable[[], Outcome], request: int, generation: int
    ) -> Outcome:
        """The turn is this worker's: do the work, and report its outcome to the board."""
        try:
            outcome = work()
        except BaseException:
            self._send(message("withdraw", request=request, key=key))
            raise
        decided = message(
            "decided", request=request, key=key, outcome=to_json(outcome), age=_age(outcome)
        )
        self._send(decided)
        self._generations[key] = generation + 1
        return outcome

    def ask_a_person(self, name: str, key: str) -> str | None:
        """The answer of the person at the controller's terminal for the secret ``name`` of
        ``key`` (a user or client id); None if nobody is there or nobody answered in time."""
        request = next(self._requests)
        asked = message("ask", request=request, name=name, key=key)
        reply = self._ask(asked, request, key, wait=PERSON_WAIT)
        if isinstance(reply, Failure):
            return None
        answer = reply[1].get("answer")
        return answer if isinstance(answer, str) else None

    def tell_secrets(self, entries: list[Entry]) -> None:
        """Hand the controller's registry what this worker's learnt (it masks what it prints)."""
        self._send(message("secrets", entries=[list(entry) for entry in entries]))

    def tell_where_found(self, name: str, where: str) -> None:
        """Tell the controller where this worker found the secret ``name`` (the keyring, a
        prompt): the controller prints the run's summary. Says nothing of the secret."""
        self._send(message("found", name=name, where=where))

    def tell_waiting(self, on: bool, within: float = 0.0) -> None:
        """Tell the controller this worker's keyring read begins (``on``) or is over: a
        backend may wait on the controller's terminal, which it gives back at the run's end.
        A read begins once the controller has noted it (at once, unless it is gone or stuck),
        waited for at most ``within`` seconds, taken from the read's own timeout: a SIGTERM
        sent when the keyring's prompt shows then finds the controller knowing."""
        if not on:
            self._send(message("waiting", on=False))
            return
        request = next(self._requests)
        asked = message("waiting", request=request, on=True, process=os.getpid())
        self._ask(asked, request, "", wait=within)

    def _ask(
        self, asked: Message, request: int, key: str, wait: float | None = None
    ) -> Message | Failure:
        if not self._send(asked):
            return _LOST
        deadline = clock.monotonic() + (self.wait if wait is None else wait)
        while (remaining := deadline - clock.monotonic()) > 0:
            try:
                reply = self._channel.receive(timeout=remaining)
            except self._channel.TimeoutError:
                continue
            except (EOFError, OSError, self._channel.RemoteError):
                return _LOST
            # An answer to a request this worker gave up on is dropped: its withdrawal already
            # handed on any turn that answer gave.
            name, kwargs = reply
            if kwargs.get("request") == request:
                return name, kwargs
        self._send(message("withdraw", request=request, key=key))
        return Failure(
            (
                f"gave up after {self.wait:g}s waiting for another pytest-xdist worker's token "
                f"exchange; it seems stuck. Check that {server_called(self.token_url)} "
                f"answers at {self.token_url}, or raise ",
                Setting("timeout"),
            )
        )

    def _send(self, sent: Message) -> bool:
        try:
            self._channel.send(sent)
        except (OSError, ValueError):
            return False
        return True

    def _key(self, identity: Identity, purpose: str = "") -> str:
        # Keyed with a secret that only lives in this run's memory: the name tells the
        # controller nothing, and, kept or logged anywhere, cannot be used to guess a password.
        fields = [
            identity.user,
            identity.password.reveal() if identity.password else None,
            identity.client_id,
            identity.client_secret.reveal() if identity.client_secret else None,
            identity.scope,
        ]
        if purpose:
            fields.append(purpose)
        message = json.dumps(fields).encode()
        return hmac.new(self._run_key.encode(), message, hashlib.sha256).hexdigest()[:32]


_LOST = Failure(
    "cannot share the token between pytest-xdist workers: the connection to the controller "
    "is closed"
)


def _age(outcome: Outcome) -> float:
    return clock.now() - outcome.obtained_at if isinstance(outcome, BarapiToken) else 0.0


def _on_our_clock(outcome: Outcome, age: float) -> Outcome:
    # Another machine's clock may be off: the token is as old here as it is there.
    if isinstance(outcome, BarapiToken):
        return replace(outcome, obtained_at=clock.now() - age)
    return outcome
