"""One time budget for a whole grant: connect, retries, the answer's headers and its body.

A socket timeout bounds each wait for one more byte, not the exchange: a server that trickles
its answer a byte a second, or its headers, never trips it. So the exchange runs under a
:class:`Deadline`: every connect and read waits at most for what is left of the budget, retries
stop when it is spent, and when it runs out a timer shuts down the sockets the exchange opened,
which ends whatever read is blocked on them. Whether another try may start reads the plugin's
clock (:mod:`pytest_barapi.clock`), which a test moves forward; the waits on sockets, like the
timer, count real time.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any

from requests.adapters import HTTPAdapter
from urllib3.connectionpool import ConnectionPool, HTTPConnectionPool
from urllib3.exceptions import MaxRetryError, ResponseError
from urllib3.response import BaseHTTPResponse
from urllib3.util import Timeout
from urllib3.util.retry import Retry

from pytest_barapi import clock

if TYPE_CHECKING:
    from typing_extensions import Self  # typing's own from Python 3.11

# A connect or read given no time at all would not wait, and fail with something that is not
# a timeout; it gets this instead, and times out.
AT_LEAST = 0.001


class Deadline:
    """``seconds`` from now, for everything one grant does; a context manager that arms it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        # On the plugin's clock: whether another try may start (a test spends the budget with
        # clock.advance instead of waiting it out).
        self.at = clock.monotonic() + seconds
        # On the real clock, as the timer counts: how long a connect or read may wait. A
        # server in a test that spends the budget on the plugin's clock as it answers must not
        # cut short the read of its own answer, already on its way.
        self._ends = time.monotonic() + seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._timer.cancel()

    def remaining(self) -> float:
        """Seconds a connect or a read may still wait, on the real time the timer counts."""
        return max(AT_LEAST, self._ends - time.monotonic())

    def watch(self, sock: object) -> None:
        """Shut ``sock`` down when the time is up (now, if it already is)."""
        if not isinstance(sock, socket.socket):
            return  # vcrpy's stand-in while replaying: nothing to wait for
        with self._lock:
            if not self.expired:
                self._sockets.append(sock)
                return
        _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    # The plain socket's shutdown, also for a TLS socket: it wakes the thread blocked reading
    # it (the read sees the end of the stream) without touching the TLS state that thread uses.
    # OSError: already closed, so nothing is waiting on it.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class DeadlineTimeout(Timeout):
    """urllib3's Timeout whose connect and read timeouts are what is left of the deadline,
    asked afresh for each connection and each retry."""

    def __init__(self, deadline: Deadline) -> None:
        super().__init__(connect=deadline.seconds, read=deadline.seconds)
        self.deadline = deadline

    def clone(self) -> DeadlineTimeout:
        return DeadlineTimeout(self.deadline)

    @property
    def connect_timeout(self) -> float:
        return self.deadline.remaining()

    @property
    def read_timeout(self) -> float:
        return self.deadline.remaining()


class PacedRetry(Retry):
    """urllib3's Retry, whose pauses between tries are waits on the plugin's clock, each
    bounded: a server that asks for a longer one (``Retry-After``) than ``longest_pause``
    gets no more tries, and its answer is what the caller receives."""

    longest_pause: float = 0.0

    def new(self, **kw: Any) -> Self:
        retry = super().new(**kw)
        retry.longest_pause = self.longest_pause
        return retry

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        if response is not None and self.respect_retry_after_header:
            asked = self.get_retry_after(response)
            if asked is not None and asked > self.longest_pause:
                # As when the tries are used up: urllib3 gives this answer back (with
                # raise_on_status off, as here), or raises if the caller asked for that.
                reason = f"Retry-After {asked:g}s, longer than {self.longest_pause:g}s"
                raise MaxRetryError(_pool, url or "", ResponseError(reason))  # type: ignore[arg-type]
        return super().increment(method, url, response, error, _pool, _stacktrace)

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        asked = None
        if response is not None and self.respect_retry_after_header:
            asked = self.get_retry_after(response)
        clock.pause(asked if asked else self.get_backoff_time())


class DeadlineRetry(PacedRetry):
    """urllib3's Retry, paced on the plugin's clock, stopped once the deadline has passed."""

    deadline: Deadline | None = None

    def new(self, **kw: Any) -> DeadlineRetry:
        retry = super().new(**kw)
        retry.deadline = self.deadline
        return retry

    def is_exhausted(self) -> bool:
        if super().is_exhausted():
            return True
        # A try that could not start before the deadline is not made: it would have no time
        # left, and its timeout would hide what the tries before it met.
        return self.deadline is not None and (
            clock.monotonic() + self.get_backoff_time() >= self.deadline.at
        )


class DeadlineAdapter(HTTPAdapter):
    """requests' adapter whose connections are watched by ``deadline``."""

    def __init__(self, deadline: Deadline, **kwargs: Any) -> None:
        self.deadline = deadline
        super().__init__(**kwargs)

    def get_connection_with_tls_context(self, *args: Any, **kwargs: Any) -> ConnectionPool:
        return self._watched(super().get_connection_with_tls_context(*args, **kwargs))

    def get_connection(self, *args: Any, **kwargs: Any) -> ConnectionPool:
        # What send() asks instead, before requests 2.32.2.
        return self._watched(super().get_connection(*args, **kwargs))

    def _watched(self, pool: ConnectionPool) -> ConnectionPool:
        if not isinstance(pool, HTTPConnectionPool):
            return pool
        # The pool is this grant's alone (a new session per grant): its connections, whatever
        # their class (plain, TLS, through a proxy or SOCKS, vcrpy's), report their socket.
        base = pool.ConnectionCls
        if getattr(base, "deadline", None) is not self.deadline:
            deadline = self.deadline

            def connect(connection: Any) -> None:
                base.connect(connection)
                deadline.watch(connection.sock)

            pool.ConnectionCls = type(
                base.__name__, (base,), {"connect": connect, "deadline": deadline}
            )
        return pool
