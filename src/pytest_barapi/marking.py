"""The ``barapi`` marker, and the tests it cannot reach: barapi fixtures asked for at run time.

A test that requests a barapi fixture in its signature, or through fixtures that do (pytest's
``item.fixturenames`` is the whole closure), is marked at collection, before ``-m`` selects.
A fixture asked for at run time (``request.getfixturevalue("barapi_token")``) cannot be seen
then: such a test is not marked, and ``-m "not barapi"`` keeps it. When it would have been
deselected had it carried the marker, it gets no token (that run promised no exchange) but a
one-line error that says to mark it. The fixtures are session-scoped, so this is decided for
the first test that needs them, and pytest gives that error to every later one.
"""

from __future__ import annotations

from typing import Any

import pytest

MARKER = "barapi"


def unmarked_under_markexpr(request: pytest.FixtureRequest) -> str | None:
    """What to tell the test that set up a barapi fixture if ``-m`` would have deselected it
    had it carried the marker; None otherwise (also when pytest does not say which test)."""
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
