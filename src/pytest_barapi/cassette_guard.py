"""The guard every cassette of the run passes before it is kept, and what a cassette may hold.

Two kinds of cassette are written in a run: the token exchange's
(:mod:`pytest_barapi.token_cassette`), and the ones pytest-recording writes for the tests (API
cassettes: ``barapi_session`` puts the bearer token on every call, and a test may send or
receive any other secret of the run). Both pass one pipeline, :func:`guarded`: serialize,
replace barapi's secrets, scan what is left, keep or refuse. A refusal is a
:class:`~pytest_barapi.outcome.Failure`, and the file is not written; the cassette the test
had before (which pytest-recording deletes under ``--record-mode=rewrite``) is put back as it
was.

A token cassette keeps only what its replay needs (its own recording hooks see to it), so
it holds no secret, and re-recording the same exchange writes the same bytes. An API cassette
is the user's: its filters and hooks, headers and bodies are kept as they are; only barapi's
secrets are replaced, each form of each one, by value, with the placeholder a replay sends in
its place (``Bearer placeholder-access-token``). Then every file is scanned with the run's
masker, so a leak in any form it knows is caught even where a placeholder did not go in. A
run that knows no secret writes every API cassette exactly as pytest-recording would.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from pytest_barapi.known_secrets import KnownSecrets, masker_of
from pytest_barapi.masking import Masker
from pytest_barapi.outcome import Failure
from pytest_barapi.secrets import MASK

# What a recorded request says instead of each credential. A replay sends exactly these.
REQUEST_PLACEHOLDERS = {
    "client_id": "placeholder-client-id",
    "client_secret": "placeholder-client-secret",
    "username": "placeholder-user",
    "password": "placeholder-password",
    "refresh_token": "placeholder-refresh-token",
}
# What a recorded response says instead of each token: the replayed token's values.
RESPONSE_PLACEHOLDERS = {
    "access_token": "placeholder-access-token",
    "refresh_token": "placeholder-refresh-token",
    "id_token": "placeholder-id-token",
}
# By the kind of a secret (KnownSecrets.kinds): what stands in its place in any cassette.
PLACEHOLDERS = {**REQUEST_PLACEHOLDERS, **RESPONSE_PLACEHOLDERS}
# The fields of a token answer that a replayed token is built from; the rest is not kept.
TOKEN_FIELDS = ("access_token", "token_type", "expires_in", "refresh_token", "scope")
# Words a cassette holds whatever the secrets are: a weak password equal to one of them
# ("password") is not reported where it is only that word.
VOCABULARY = frozenset(
    {
        *REQUEST_PLACEHOLDERS.values(),
        *RESPONSE_PLACEHOLDERS.values(),
        *REQUEST_PLACEHOLDERS,
        *RESPONSE_PLACEHOLDERS,
        "grant_type",
        "scope",
        "token_type",
        "expires_in",
        "Bearer",
    }
)


@dataclass
class Placeholders:
    """Puts, in place of each form of each secret the run knows, its kind's placeholder: what
    a replay sends instead (``Bearer placeholder-access-token``), so that a request recorded
    with a secret in it still matches when replayed. A secret of no known kind, or one the
    masker finds only with its name (HTTP Basic), becomes ``********``."""

    known: KnownSecrets
    _maskers: dict[str, Masker] = field(default_factory=dict, repr=False)

    def put_in_cassette(self, data: Any) -> Any:
        """A parsed cassette with the placeholders in, and each changed body's length fixed."""
        placed = self.put_in(data)
        if isinstance(data, dict) and isinstance(placed, dict):
            interactions = data.get("interactions") or ()
            pairs = zip(interactions, placed.get("interactions") or (), strict=False)
            for before, after in pairs:
                for part, body in (("request", ("body",)), ("response", ("body", "string"))):
                    _fix_length(_at(before, part), _at(after, part), body)
        return placed

    def put_in(self, data: Any) -> Any:
        """``data`` with the placeholders in every string value (not in keys)."""
        if isinstance(data, str):
            return self._text(data)
        if isinstance(data, dict):
            return {key: self.put_in(value) for key, value in data.items()}
        if isinstance(data, list):
            return [self.put_in(item) for item in data]
        # Bytes are a body that is not UTF-8 text: not rewritten (the scan still reads it).
        return data

    def _text(self, text: str) -> str:
        kinds = self.known.kinds()
        # Longest first: one secret can contain another.
        for value in sorted(kinds, key=len, reverse=True):
            replace = partial(_replaced, self._masker(value), PLACEHOLDERS.get(kinds[value], MASK))
            # Between vocabulary words: a placeholder put in for a longer secret stays whole.
            text = _outside_vocabulary(text, replace)
        return _outside_vocabulary(text, self._masker(None).mask)

    def _masker(self, value: str | None) -> Masker:
        """The masker of one value; of None: of every secret the run knows."""
        key = "" if value is None else value
        if key not in self._maskers:
            # A placeholder stands in for a whole secret; pieces are masked by the last pass.
            self._maskers[key] = (
                self.known.masker() if value is None else masker_of(value, whole=True)
            )
        return self._maskers[key]


def _replaced(masker: Masker, placeholder: str, text: str) -> str:
    """``text`` with ``placeholder`` where ``masker`` finds a form of its secret."""
    # The masker writes MASK where it finds one; the text may hold MASK of its own.
    return MASK.join(masker.mask(part).replace(MASK, placeholder) for part in text.split(MASK))


def _at(interaction: Any, part: str) -> dict[str, Any]:
    found = interaction.get(part) if isinstance(interaction, dict) else None
    return found if isinstance(found, dict) else {}


def _fix_length(before: dict[str, Any], after: dict[str, Any], body: tuple[str, ...]) -> None:
    """A body that got placeholders gets the Content-Length it now has."""
    old: Any = before
    new: Any = after
    for key in body:
        old = old.get(key) if isinstance(old, dict) else None
        new = new.get(key) if isinstance(new, dict) else None
    headers = after.get("headers")
    if old == new or not isinstance(new, str) or not isinstance(headers, dict):
        return
    for name in headers:
        if name.lower() == "content-length":
            headers[name] = [str(len(new.encode()))]


def leak(
    text: str, data: Any, known: KnownSecrets, named: Sequence[tuple[str, str]] = ()
) -> str | None:
    """Which secret of the run a written cassette (``text``, parsed as ``data``) still holds,
    and where; None: none. ``named``: secrets to call by a name of their own."""
    masker = known.masker()
    for where, string in strings(data, ""):
        if masker.reveals(without_vocabulary(string)):
            return f"{_what(string, known, named)} at {where.lstrip('/')}"
    if masker.reveals(without_vocabulary(text)):
        return f"{_what(text, known, named)} in the file"
    return None


def _what(text: str, known: KnownSecrets, named: Sequence[tuple[str, str]]) -> str:
    """Which secret ``text`` reveals, for the message: a cassette is fixed by knowing it."""
    kinds = [(f"the {kind.replace('_', ' ')}", value) for value, kind in known.kinds().items()]
    for what, value in [*named, *kinds]:
        if masker_of(value).reveals(without_vocabulary(text)):
            return what
    return "a secret of the run"


# A vocabulary word standing on its own (a field name, a placeholder), not inside a longer
# value: a weak password equal to one ("password") is not a leak where it is only that word.
_VOCABULARY_WORD = re.compile(
    r"(?<![\w-])(?:"
    + "|".join(re.escape(word) for word in sorted(VOCABULARY, key=len, reverse=True))
    + r")(?![\w-])"
)


def without_vocabulary(text: str) -> str:
    return _VOCABULARY_WORD.sub("\0", text)


def _outside_vocabulary(text: str, change: Callable[[str], str]) -> str:
    """``text`` changed by ``change`` between its vocabulary words, which stay as they are (a
    placeholder is not rewritten by a weak password that is part of it)."""
    pieces, start = [], 0
    for word in _VOCABULARY_WORD.finditer(text):
        pieces += [change(text[start : word.start()]), word.group()]
        start = word.end()
    return "".join([*pieces, change(text[start:])])


def strings(data: Any, where: str) -> Iterator[tuple[str, str]]:
    """Every string (and dict key) in a parsed cassette, bytes decoded, with where it is."""
    if isinstance(data, str):
        yield where, data
    elif isinstance(data, bytes):
        yield where, data.decode("utf-8", "replace")
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from strings(key, where)
            yield from strings(value, f"{where}/{key}")
    elif isinstance(data, (list, tuple)):
        for item in data:
            yield from strings(item, where)


# What a cassette is guarded for: the words of its refusals differ, the pipeline does not.
TOKEN = "token"
API = "api"


@dataclass(frozen=True)
class Kept:
    """A cassette the guard lets through: ``text`` is what is written, ``cassette_dict``
    vcrpy's data for it (with the placeholders in, if any went in)."""

    text: str
    cassette_dict: Any


def guarded(
    cassette_dict: Any,
    serializer: Any,
    path: str | Path,
    known: KnownSecrets,
    *,
    purpose: str,
    scan: Callable[[str, Any], str | None] | None = None,
) -> Kept | Failure:
    """The one pipeline of every cassette before it is kept: serialize, replace barapi's
    secrets (an API cassette's; a token cassette has none left to replace), scan what is
    left (with ``scan``, else for every secret ``known``), keep or refuse. Never raises."""
    from vcr.serialize import deserialize, serialize

    try:
        text = serialize(cassette_dict, serializer)
        data = serializer.deserialize(text)
        if purpose == API:
            placed = Placeholders(known).put_in_cassette(data)
            if placed != data:
                text = serializer.serialize(placed)
                requests, responses, *metadata = deserialize(text, serializer)
                cassette_dict = {"requests": requests, "responses": responses}
                if metadata:
                    cassette_dict["metadata"] = metadata[0]
                data = placed
        finding = scan(text, data) if scan is not None else leak(text, data, known)
    except Exception as error:
        return _unchecked(purpose, shown(path), error)
    if finding is not None:
        return _refusal(purpose, shown(path), finding)
    return Kept(text, cassette_dict)


def _refusal(purpose: str, shown: str, finding: str) -> Failure:
    if purpose == TOKEN:
        return Failure(
            f"refusing to keep the cassette {shown}: after scrubbing it still held {finding}; "
            "it was deleted. Check what the token endpoint sends back, or report this as a "
            "pytest-barapi bug."
        )
    return Failure(
        f"refusing to keep the cassette {shown}: with barapi's secrets replaced, it still "
        f"held {finding}; it was not written. A secret in a body that is not text cannot be "
        "replaced: keep it out of what the test sends and receives."
    )


def _unchecked(purpose: str, shown: str, error: Exception) -> Failure:
    if purpose == TOKEN:
        return Failure(f"could not write the cassette {shown} ({type(error).__name__})")
    return Failure(
        f"could not check the cassette {shown} for barapi's secrets "
        f"({type(error).__name__}); it was not written"
    )


def shown(path: str | Path) -> str:
    """``path`` as a message shows it: relative to the working directory where it is inside."""
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# The guard over pytest-recording's cassettes (API cassettes).

PLUGIN = "barapi-api-cassettes"


def _guard(config: pytest.Config, known: KnownSecrets) -> ApiCassettes:
    guard: ApiCassettes | None = config.pluginmanager.get_plugin(PLUGIN)
    if guard is None:
        guard = ApiCassettes(known)
        config.pluginmanager.register(guard, PLUGIN)
    return guard


def watch(config: pytest.Config, known: KnownSecrets, vcr: Any) -> None:
    """Guard what ``vcr`` (pytest-recording's, for the test being set up) writes.

    The guard sits in the persister, the one step every cassette passes on its way to a file,
    whatever the user's ``vcr_config`` sets (its own persister included).
    """
    guard = _guard(config, known)
    merge = vcr.get_merged_config

    def get_merged_config(**kwargs: Any) -> dict[str, Any]:
        merged: dict[str, Any] = merge(**kwargs)
        merged["persister"] = _Guarded(merged["persister"], guard)
        return merged

    vcr.get_merged_config = get_merged_config


def remember(config: pytest.Config, known: KnownSecrets, request: pytest.FixtureRequest) -> None:
    """Keep the bytes of the cassette pytest-recording is about to delete for the test whose
    ``vcr`` fixture ``request`` sets up (``--record-mode=rewrite``), so that a refusal to keep
    the new recording gives the old one back. Called just before the ``vcr`` fixture runs."""
    path = _rewritten(request)
    if path is not None:
        _guard(config, known).remember(path)


def _rewritten(request: pytest.FixtureRequest) -> str | None:
    """The cassette pytest-recording's ``vcr`` fixture deletes before the test (the way its
    ``use_cassette`` names it), or None: it deletes none (a mode other than ``rewrite``)."""
    markers = request.getfixturevalue("vcr_markers")
    if not markers or request.getfixturevalue("disable_recording"):
        return None
    merged = dict(request.getfixturevalue("vcr_config"))
    for marker in reversed(markers):
        merged.update(marker.kwargs)
    if merged.get("record_mode", request.getfixturevalue("record_mode")) != "rewrite":
        return None
    name = str(request.getfixturevalue("default_cassette_name"))
    suffix = f".{merged['serializer']}" if "serializer" in merged else ".yaml"
    # pytest-recording cuts a name too long for the file system, with its hash.
    if len(name) + len(suffix) > _MAX_NAME:
        digest = hashlib.md5(name.encode()).hexdigest()
        name = f"{name[: _MAX_NAME - len(suffix) - len(digest) - 3]}...{digest}"
    path = os.path.join(request.getfixturevalue("vcr_cassette_dir"), name)
    return path if path.endswith(suffix) else path + suffix


def _max_name() -> int:
    try:
        return os.pathconf(".", "PC_NAME_MAX")
    except (AttributeError, ValueError, OSError):
        return 255


_MAX_NAME = _max_name()


# eq=False: a plugin is hashed by identity (pytest 8.0 keeps its plugins in a set).
@dataclass(eq=False)
class ApiCassettes:
    """The run's guard over pytest-recording's cassettes, and what it refused to keep: each
    cassette passes :func:`guarded` on its way to the user's persister, and a refusal fails
    the test at teardown."""

    known: KnownSecrets
    problems: list[Failure] = field(default_factory=list)
    # The test's cassettes as they were before pytest-recording deleted them (None: there was
    # none), by path: what a refusal puts back.
    before: dict[str, bytes | None] = field(default_factory=dict)

    def remember(self, path: str) -> None:
        try:
            self.before[os.path.abspath(path)] = Path(path).read_bytes()
        except FileNotFoundError:
            self.before[os.path.abspath(path)] = None
        except OSError:
            pass  # unreadable: pytest-recording cannot delete it either (it warns)

    def save(self, inner: Any, cassette_path: str, cassette_dict: Any, serializer: Any) -> None:
        """Save through ``inner`` what is left once barapi's secrets are out, if nothing is.

        Never raises: vcrpy saves on leaving the cassette, and an exception there would skip
        its unpatching. What went wrong waits in ``problems`` for the test's teardown.
        """
        if not self.known.values():
            inner.save_cassette(cassette_path, cassette_dict, serializer=serializer)
            return
        kept = guarded(cassette_dict, serializer, cassette_path, self.known, purpose=API)
        if isinstance(kept, Failure):
            self.problems.append(Failure((*kept.what, self._put_back(cassette_path))))
            return
        inner.save_cassette(cassette_path, kept.cassette_dict, serializer=serializer)

    def _put_back(self, cassette_path: str) -> str:
        """The test's cassettes back as they were before it ran; what the refusal says of it."""
        back = False
        for deleted, content in self.before.items():
            if content is not None and not os.path.exists(deleted):
                try:
                    _write_whole(Path(deleted), content)
                except OSError as error:
                    reason = error.strerror or type(error).__name__
                    return f" The cassette it had before could not be put back: {reason}."
                back = True
        if back:
            return " The cassette it had before is back as it was."
        if os.path.exists(cassette_path):
            return " The cassette it had before is kept as it was."
        return " It had no cassette before."

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(self) -> Generator[None, object, object]:
        # The test's cassette is saved as its `vcr` fixture is torn down, inside this hook.
        try:
            result = yield
        finally:
            self.before.clear()
            problems, self.problems[:] = list(self.problems), []
            if problems:
                pytest.fail("\n".join(f"barapi: {problem}" for problem in problems), False)
        return result


def _write_whole(path: Path, content: bytes) -> None:
    """``content`` at ``path`` all at once: a reader sees the old file or the whole new one."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(content)
        os.chmod(temporary, 0o644)  # a cassette is meant to be committed and shared
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@dataclass
class _Guarded:
    """A vcrpy persister that loads as ``inner`` does, and saves through the guard."""

    inner: Any
    guard: ApiCassettes

    def load_cassette(self, cassette_path: str, serializer: Any) -> Any:
        return self.inner.load_cassette(cassette_path, serializer=serializer)

    def save_cassette(self, cassette_path: str, cassette_dict: Any, serializer: Any) -> None:
        self.guard.save(self.inner, cassette_path, cassette_dict, serializer)
