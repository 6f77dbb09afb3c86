"""The ``barapi`` marker, and the tests it cannot reach: barapi fixtures asked for at run time.

A test that requests a barapi fixture in its signature, or through fixtures that do (pytest's
``item.fixturenames`` is the whole closure), is marked at collection, before ``-m`` selects.
A fixture asked for at run time (``request.getfixturevalue("barapi_token")``) cannot be seen
then: such a test is not marked, and ``-m "not barapi"`` keeps it. When it would have been
deselected had it carried the marker, it gets no token (that run promised no exchange) but a
one-line error that says to mark it. The error is that test's own, whichever test set the
fixture up first: it is raised each time a test asks, before pytest looks in its cache, and is
never cached as the fixture's value (a later test that is selected still gets the token).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

MARKER = "barapi"


def refuse_unseen(session: pytest.Session, names: Iterable[str]) -> None:
    """Under ``-m``, check each request for the fixtures ``names`` against the test that
    makes it (:func:`unmarked_under_markexpr`). pytest calls a fixture definition's
    ``execute`` whenever a test (or a fixture set up for it) asks for the fixture, from its
    cache or not, and caches only what the fixture function raises: the check wraps it."""
    if not session.config.option.markexpr:
        return
    manager = getattr(session, "_fixturemanager", None)
    if manager is None:  # another pytest: the run refuses nothing rather than break
        return
    # pytest 8.0 looks definitions up by the node's id, 8.1 on by the node.
    where = session if pytest.version_tuple >= (8, 1) else session.nodeid
    for name in names:
        for fixturedef in manager.getfixturedefs(name, where) or ():
            fixturedef.execute = _checked(fixturedef.execute)


def _checked(execute: Any) -> Any:
    def checked(request: pytest.FixtureRequest) -> Any:
        message = unmarked_under_markexpr(request)
        if message is not None:
            raise pytest.fail.Exception(f"barapi: {message}", pytrace=False)
        return execute(request)

    return checked


def unmarked_under_markexpr(request: pytest.FixtureRequest) -> str | None:
    """What to tell the test that asks for a barapi fixture if ``-m`` would have deselected
    it had it carried the marker; None otherwise (also when pytest does not say which test)."""
    markexpr = request.config.option.markexpr
    item = getattr(request, "_pyfuncitem", None)  # the test, also for a session fixture
    if not markexpr or item is None or item.get_closest_marker(MARKER) is not None:
        return None
    if _selected(markexpr, item):
        return None
    return (
        "this test asks for a barapi fixture at run time (request.getfixturevalue), "
        f'which -m "{markexpr}" cannot see; no request sent: mark the test '
        f"@pytest.mark.{MARKER}"
    )


def _selected(markexpr: str, item: pytest.Item) -> bool:
    """Whether ``-m markexpr`` selects ``item`` once it carries the marker."""
    try:
        # pytest's own parser of -m: the same reading as the selection made.
        from _pytest.mark.expression import Expression

        expression = Expression.compile(markexpr)
    except Exception:  # another pytest, another parser: not ours to second-guess
        return True
    marks = [*item.iter_markers(), pytest.mark.barapi.mark]

    def matches(name: str, /, **kwargs: Any) -> bool:
        return any(
            mark.name == name
            and all(mark.kwargs.get(key, _ABSENT) == value for key, value in kwargs.items())
            for mark in marks
        )

    return bool(expression.evaluate(matches))


_ABSENT = object()
