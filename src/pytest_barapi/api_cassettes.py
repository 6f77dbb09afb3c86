"""The cassettes pytest-recording writes: barapi's secrets taken out by value, then scanned.

``barapi_session`` puts the bearer token on every API call, and a test may send or receive any
other secret of the run. These cassettes are the user's: their filters and hooks, headers and
bodies are kept as they are. Only barapi's secrets are replaced, each form of each one, by the
placeholder a replay sends in its place (``Bearer placeholder-access-token``). Then the file
is scanned like a token cassette; if a secret is left (say, in a body that is not text), the
file is not written and the test fails at teardown, saying where. A run that knows no secret
writes every cassette exactly as pytest-recording would.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pytest_barapi.cassette_guard import Placeholders, leak
from pytest_barapi.known_secrets import KnownSecrets

PLUGIN = "barapi-api-cassettes"


def watch(config: pytest.Config, known: KnownSecrets, vcr: Any) -> None:
    """Guard what ``vcr`` (pytest-recording's, for the test being set up) writes.

    The guard sits in the persister, the one step every cassette passes on its way to a file,
    whatever the user's ``vcr_config`` sets (its own persister included).
    """
    guard = config.pluginmanager.get_plugin(PLUGIN)
    if guard is None:
        guard = ApiCassettes(known)
        config.pluginmanager.register(guard, PLUGIN)
    merge = vcr.get_merged_config

    def get_merged_config(**kwargs: Any) -> dict[str, Any]:
        merged: dict[str, Any] = merge(**kwargs)
        merged["persister"] = _Guarded(merged["persister"], guard)
        return merged

    vcr.get_merged_config = get_merged_config


# eq=False: a plugin is hashed by identity (pytest 8.0 keeps its plugins in a set).
@dataclass(eq=False)
class ApiCassettes:
    """The run's guard over pytest-recording's cassettes, and what it refused to keep."""

    known: KnownSecrets
    problems: list[str] = field(default_factory=list)

    def save(self, inner: Any, cassette_path: str, cassette_dict: Any, serializer: Any) -> None:
        """Save through ``inner`` what is left once barapi's secrets are out, if nothing is.

        Never raises: vcrpy saves on leaving the cassette, and an exception there would skip
        its unpatching. What went wrong waits in ``problems`` for the test's teardown.
        """
        if not self.known.values():
            inner.save_cassette(cassette_path, cassette_dict, serializer=serializer)
            return
        from vcr.serialize import deserialize, serialize

        shown = _shown(cassette_path)
        try:
            text = serialize(cassette_dict, serializer)
            data = serializer.deserialize(text)
            placed = Placeholders(self.known).put_in_cassette(data)
            if placed != data:
                text = serializer.serialize(placed)
                requests, responses, *metadata = deserialize(text, serializer)
                cassette_dict = {"requests": requests, "responses": responses}
                if metadata:
                    cassette_dict["metadata"] = metadata[0]
            finding = leak(text, placed, self.known)
        except Exception as error:
            self.problems.append(
                f"could not check the cassette {shown} for barapi's secrets "
                f"({type(error).__name__}); it was not written"
            )
            return
        if finding is not None:
            self.problems.append(
                f"refusing to keep the cassette {shown}: with barapi's secrets replaced, it "
                f"still held {finding}; it was not written. A secret in a body that is not "
                "text cannot be replaced: keep it out of what the test sends and receives."
            )
            return
        inner.save_cassette(cassette_path, cassette_dict, serializer=serializer)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(self) -> Generator[None, object, object]:
        # The test's cassette is saved as its `vcr` fixture is torn down, inside this hook.
        try:
            result = yield
        finally:
            problems, self.problems[:] = list(self.problems), []
            if problems:
                pytest.fail("\n".join(f"barapi: {problem}" for problem in problems), False)
        return result


@dataclass
class _Guarded:
    """A vcrpy persister that loads as ``inner`` does, and saves through the guard."""

    inner: Any
    guard: ApiCassettes

    def load_cassette(self, cassette_path: str, serializer: Any) -> Any:
        return self.inner.load_cassette(cassette_path, serializer=serializer)

    def save_cassette(self, cassette_path: str, cassette_dict: Any, serializer: Any) -> None:
        self.guard.save(self.inner, cassette_path, cassette_dict, serializer)


def _shown(path: str) -> str:
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return str(path)
