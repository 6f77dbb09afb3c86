"""The time as the plugin reads it: the one seam through which tests move it forward.

Tokens count their lifetime on the wall clock (:func:`now`, epoch seconds: a server's
``expires_in`` counts from when its answer arrived, and a token shows its expiry as a date),
so the broker's decision to renew reads it too. A grant's deadline (whether another try may
start), waits, and the ages of tokens handed between pytest-xdist workers read the monotonic
clock (:func:`monotonic`), which no change of the system's clock moves.

A test makes an hour pass with :func:`advance` instead of sleeping for a token to expire: in
its own process, including a user project's conftest or test under pytester (each pytest-xdist
worker is a process of its own, with its own clock). What waits on the operating system (a
socket's timeout, the timer that ends a deadline) counts real time: moving the clock never cuts
short the read of an answer on its way.
"""

from __future__ import annotations

import time

# How far this process's clock has been moved forward, in seconds: 0 outside tests.
_ahead = 0.0


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


def reset() -> None:
    """Back to the real time (a test that moved the clock puts it back)."""
    global _ahead
    _ahead = 0.0
