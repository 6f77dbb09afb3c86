"""Time is read in one place (``pytest_barapi.clock``), so tests move it instead of waiting.

Each reader is shown following the clock: a token's expiry and the broker's decision to renew,
a grant's deadline and its retries, and the age of a token handed from one pytest-xdist worker
to another. The how-to tests use the same seam in users' suites run with pytester
(``clock.advance(3600)`` where a token must expire). Every test starts on the real time
(``tests/conftest.py`` resets the clock), where the pauses between the tries of a request pass
at once, moving the clock (``clock.skip_pauses()``).
"""

from __future__ import annotations

import time

import pytest

from pytest_barapi import clock
from pytest_barapi.broker import renewal_margin
from pytest_barapi.deadline import AT_LEAST, Deadline, DeadlineRetry
from pytest_barapi.outcome_board import OutcomeBoard
from pytest_barapi.token import BarapiToken
from tests.test_howto_share_across_workers import IDENTITY, no_second_exchange, worker

HOUR = 3600.0


def an_hour_token() -> BarapiToken:
    return BarapiToken("fake-access-Ck1", "Bearer", 3600, refresh_token="fake-refresh-Ck1")


def test_the_clock_runs_on_the_real_time_until_a_test_moves_it() -> None:
    before = time.time(), time.monotonic()
    now, monotonic = clock.now(), clock.monotonic()
    assert before[0] <= now <= time.time()
    assert before[1] <= monotonic <= time.monotonic()

    clock.advance(HOUR)
    assert clock.now() >= now + HOUR
    assert clock.monotonic() >= monotonic + HOUR

    clock.reset()
    assert clock.now() < now + HOUR


def test_a_token_expires_on_the_plugins_clock() -> None:
    token = an_hour_token()
    margin = renewal_margin(token)
    assert margin == 60
    assert not token.expires_within(margin)

    clock.advance(HOUR - 2 * margin)
    assert not token.expires_within(margin)  # not yet in its last minute: kept
    clock.advance(margin)
    assert token.expires_within(margin)  # in its last minute: the broker renews it


def test_a_token_that_never_expires_is_never_renewed() -> None:
    token = BarapiToken("fake-access-Ck2", "Bearer", None)
    clock.advance(100 * 365 * 24 * HOUR)
    assert not token.expires_within(renewal_margin(token))


def test_a_deadline_stops_retries_on_the_plugins_clock_and_bounds_waits_on_the_real_time() -> None:
    """A server in a test spends a grant's budget on the plugin's clock as it answers: no
    other try starts, and the answer already on its way is still read (a socket's wait, like
    the timer that ends the grant, counts real time)."""
    deadline = Deadline(30)
    retry = DeadlineRetry(total=5, backoff_factor=0)
    retry.deadline = deadline
    assert deadline.remaining() > 29  # far from any machine's speed: 30 s are not gone yet

    clock.advance(31)

    assert retry.is_exhausted()
    assert deadline.remaining() > 29


def test_a_spent_deadline_still_gives_a_wait_a_moment() -> None:
    # A connect or read given no time would fail with something that is not a timeout.
    assert Deadline(0).remaining() == AT_LEAST


def test_no_retry_starts_once_the_deadline_has_passed() -> None:
    retry = DeadlineRetry(total=5, backoff_factor=0)
    retry.deadline = Deadline(30)
    assert not retry.is_exhausted()

    clock.advance(31)
    assert retry.is_exhausted()


def test_a_pause_sleeps_until_a_test_skips_pauses_then_it_moves_the_clock() -> None:
    clock.reset()  # as outside tests: a pause sleeps
    before = time.monotonic()
    clock.pause(0.05)
    assert time.monotonic() - before >= 0.05
    assert clock.monotonic() - time.monotonic() < 0.05  # the clock was not moved

    clock.skip_pauses()
    clock.pause(HOUR)
    assert clock.monotonic() - time.monotonic() > HOUR - 1

    clock.reset()
    assert clock.monotonic() - time.monotonic() < 1


def test_the_backoff_between_tries_is_a_pause_on_the_plugins_clock() -> None:
    retry = DeadlineRetry(total=5, backoff_factor=10).increment().increment()
    retry.deadline = Deadline(HOUR)
    start = clock.monotonic()
    retry.sleep()
    assert clock.monotonic() - start >= 20  # 10 s doubled: waited on the clock, not slept


@pytest.mark.parametrize("held_for", [0.0, HOUR - 30])
def test_a_token_handed_to_another_worker_is_as_old_there(held_for: float) -> None:
    # The first worker sends the token's age; the board counts on while it holds the token
    # (on the controller's monotonic clock), and the second worker dates it back on its own.
    board = OutcomeBoard()
    first, _ = worker(board)
    second, _ = worker(board)
    token = an_hour_token()
    assert first.decide(IDENTITY, lambda: token) is token

    clock.advance(held_for)
    handed = second.decide(IDENTITY, no_second_exchange)

    assert isinstance(handed, BarapiToken)
    assert handed.access_token == token.access_token
    # As old as the first worker's, give or take the real time this test takes (not a
    # minute): so in its last minute too, after the hour, and renewed.
    assert abs(handed.obtained_at - token.obtained_at) < 60
    margin = renewal_margin(handed)
    assert handed.expires_within(margin) == token.expires_within(margin) == (held_for > 0)
