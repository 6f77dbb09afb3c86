"""The time as the plugin reads it: the one seam through which tests move it forward.

Tokens count their lifetime on the wall clock (:func:`now`, epoch seconds: a server's
``expires_in`` counts from when its answer arrived, and a token shows its expiry as a date),
so the broker's decision to renew reads it too. A grant's deadline (whether another try may
start), waits, and the ages of tokens handed between pytest-xdist workers read the monotonic
clock (:func:`monotonic`), which no change of the system's clock moves.

A test makes an hour pass with :func:`advance` instead of sleeping for a token to expire: in
its own process, including a user project's conftest or test under pytester (each pytest-xdist
worker is a process of its own, with its own clock). The pauses between the tries of a request
(:func:`pause`) are waits on this clock too: after :func:`skip_pauses`, each moves the clock
forward at once instead of sleeping. What waits on the operating system (a socket's timeout, the
timer that ends a deadline) counts real time: moving the clock never cuts short the read of an
answer on its way.
"""

from __future__ import annotations

import time

# How far this process's clock has been moved forward, in seconds: 0 outside tests.
_ahead = 0.0
# Whether a pause moves the clock forward instead of sleeping: never outside tests.
_pauses_skipped = False


def now() -> float:
    """Seconds since the epoch, as a token's ``obtained_at`` and expiry count them."""
    return time.time() + _ahead


def monotonic() -> float:
    """Seconds on a clock that only moves forward, for deadlines, waits and ages."""
    return time.monotonic() + _ahead


def advance(seconds: float) -> None:
    """Move the time forward by ``seconds`` for everything that reads it here."""
    global _ahead
    _ahead += seconds


def pause(seconds: float) -> None:
    """Wait ``seconds`` before another try: sleep, or, once a test has said
    :func:`skip_pauses`, move the clock forward by as much at once."""
    if seconds <= 0:
        return
    if _pauses_skipped:
        advance(seconds)
    else:
        time.sleep(seconds)


def skip_pauses() -> None:
    """Let every :func:`pause` here pass at once, on this clock (until :func:`reset`)."""
    global _pauses_skipped
    _pauses_skipped = True


def reset() -> None:
    """Back to the real time, where pauses sleep (a test that moved the clock puts it back)."""
    global _ahead, _pauses_skipped
    _ahead = 0.0
    _pauses_skipped = False
