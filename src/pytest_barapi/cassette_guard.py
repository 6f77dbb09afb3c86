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
it holds no secret, and re-recording the same exchange writes the same bytes; its scan looks
for a long secret in every form the masker knows, and for a short one where it stands as a
word that is not barapi's own (``leak``). An API cassette is the user's: its filters and hooks,
headers and bodies are kept as they are; only barapi's secrets are replaced, by structure, not
by substring (:class:`Reading`: a header value, a query or form field, a JSON string, a whole
word of text), with the placeholder a replay sends in its place (``Bearer
placeholder-access-token``). A secret that stands where no placeholder can go is a refusal,
naming which secret and where. The check before writing is the same reading of the file as
it will be written, without replacing, so the two never disagree. A run that knows no secret
writes every API cassette exactly as pytest-recording would.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus, unquote_plus

import pytest

from pytest_barapi.known_secrets import KnownSecrets, masker_of
from pytest_barapi.masking import MIN_PIECE, SHORT, basic_forms, merged_spans
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
# Words a token cassette holds whatever the secrets are (barapi writes that file whole, from
# placeholders and the protocol's words): a weak password equal to one of them ("password")
# is not reported there where it is only that word. An API cassette exempts no word.
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


# How an API cassette is read: one walker, for the replacement and for the scan alike.

# A secret this long is that secret wherever it stands, inside a longer word too; a shorter
# one inside a word is another word ("test" in "latest", "staff" in "is_staff").
LONG = MIN_PIECE
# What separates the words of a text: a short secret is found only between these (or at an
# end). Anything else glues: an address, a host name, a path or a longer word holds it as its
# own ("test" in "alice@example.test", "/v1/test", "latest").
_SEPARATORS = frozenset(" \t\r\n\"'()[]{}<>,;=&")
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_COLON = re.compile(r"\s*:")
_SCHEME = re.compile(r"([A-Za-z][\w-]*)( +)(\S+)\Z")


@dataclass(frozen=True)
class _Secret:
    """One secret of the run as a cassette may show it."""

    value: str
    what: str  # for a message: which secret, by kind, never its value
    placeholder: str
    forms: frozenset[str]  # how text writes it: plain, URL-encoded, JSON-escaped, in bytes
    basic: bool = False  # the base64 of an HTTP Basic pair, not a value

    @property
    def long(self) -> bool:
        return len(self.value) >= LONG

    def hits(self, text: str) -> Iterator[tuple[int, int, bool]]:
        """Where a form of the secret shows in ``text``: start, end, and whether it stands
        whole there (between separators)."""
        for form in self.forms:
            start = text.find(form)
            while start >= 0:
                end = start + len(form)
                glued = (start > 0 and text[start - 1] not in _SEPARATORS) or (
                    end < len(text) and text[end] not in _SEPARATORS
                )
                yield start, end, not glued
                start = text.find(form, start + 1)

    def found_in(self, text: str) -> bool:
        """Whether ``text`` holds the secret: standing whole, or (a long one) anywhere."""
        return any(whole or self.long for _, _, whole in self.hits(text))

    def glued_in(self, text: str) -> bool:
        """Whether ``text`` holds a secret of ``SHORT`` characters or more inside a longer
        word: the masker masks it there, so a cassette may not keep it there. It is not
        replaced either (the word around it is data): the recording is refused."""
        return len(self.value) >= SHORT and any(True for _ in self.hits(text))


def secrets_of(known: KnownSecrets) -> list[_Secret]:
    """Every secret ``known`` holds, longest first (one secret can contain another)."""
    kinds = known.kinds()
    found = []
    for value in known.values():
        kind = kinds.get(value)
        what = f"the {kind.replace('_', ' ')}" if kind else "a secret of the run"
        forms = {
            value,
            quote(value),
            quote(value, safe=""),
            quote_plus(value),
            json.dumps(value)[1:-1],
            json.dumps(value, ensure_ascii=False)[1:-1],
            repr(value.encode())[2:-1],
        }
        found.append(_Secret(value, what, PLACEHOLDERS.get(kind or "", MASK), frozenset(forms)))
    for name, value in known.pairs():
        for b64 in basic_forms(name, value):
            forms = {b64, b64 + "=" * (-len(b64) % 4)}
            found.append(
                _Secret(b64, "the HTTP Basic credentials", MASK, frozenset(forms), basic=True)
            )
    return sorted(found, key=lambda secret: len(secret.value), reverse=True)


@dataclass
class Reading:
    """One read of an API cassette (parsed): with ``replace``, each secret standing where a
    placeholder can take its place without touching what is around it gets it; every other
    secret found is a problem (which secret, where). Read again after the replacement, a
    cassette has no problem left: the scan is this same read, without replacing.

    A secret is replaced where it is a whole value: a header's value, the credentials after
    its scheme (``Bearer ...``, ``Basic ...``), a query or form field's value, a JSON string
    that is the secret; or a whole word of other text (a URI's path, a text body, a JSON
    string that holds more); a long secret (``LONG`` characters or more) wherever it stands.
    A short secret inside a longer word is another word, and is not touched (``test`` in
    ``latest``, ``staff`` in ``is_staff``), nor is a piece of a secret (two JWTs share their
    head). A short secret equal to a name (a header's, a field's, a JSON key) is that name.
    Everywhere else a secret is a problem: in a body that is not text, in a JSON number or
    literal, a long secret in a name.
    """

    secrets: list[_Secret]
    replace: bool
    problems: list[str] = field(default_factory=list)

    def cassette(self, data: Any) -> Any:
        if not isinstance(data, dict):
            return self._other(data, "the file")
        placed = dict(data)
        interactions = data.get("interactions")
        if isinstance(interactions, list):
            placed["interactions"] = [
                self._interaction(interaction, number)
                for number, interaction in enumerate(interactions, 1)
            ]
        for key, value in data.items():
            if key != "interactions":
                placed[key] = self._other(value, "the file")
        return placed

    def _interaction(self, interaction: Any, number: int) -> Any:
        if not isinstance(interaction, dict):
            return self._other(interaction, f"interaction {number}")
        placed = dict(interaction)
        for part in ("request", "response"):
            message = interaction.get(part)
            if isinstance(message, dict):
                placed[part] = self._message(message, f"interaction {number}, {part}")
        for key, value in interaction.items():
            if key not in ("request", "response"):
                placed[key] = self._other(value, f"interaction {number}")
        return placed

    def _message(self, message: dict[str, Any], where: str) -> dict[str, Any]:
        placed: dict[str, Any] = {}
        headers = message.get("headers")
        for key, value in message.items():
            if key == "headers" and isinstance(value, dict):
                placed[key] = {
                    self._name(name, f"{where} header {name}"): self._header(
                        values, f"{where} header {name}"
                    )
                    for name, values in value.items()
                }
            elif key == "uri" and isinstance(value, str):
                placed[key] = self._uri(value, f"{where} URI")
            elif key == "body":
                content_type = _content_type(headers)
                if isinstance(value, dict) and isinstance(value.get("string"), (str, bytes)):
                    body = dict(value)
                    body["string"] = self._body(value["string"], content_type, f"{where} body")
                    placed[key] = body
                elif isinstance(value, (str, bytes)):
                    placed[key] = self._body(value, content_type, f"{where} body")
                else:
                    placed[key] = self._other(value, f"{where} body")
            else:
                placed[key] = self._other(value, f"{where} {key}")
        return placed

    def _header(self, values: Any, where: str) -> Any:
        if not isinstance(values, list):
            return self._other(values, where)
        return [self._header_value(value, where) for value in values]

    def _header_value(self, value: Any, where: str) -> Any:
        if not isinstance(value, str):
            return self._other(value, where)
        whole = self._whole(value)
        if whole is not None:
            return whole
        scheme = _SCHEME.match(value)
        if scheme is None:
            return self._text(value, where)
        # "Bearer" is a name, even where it is the password.
        name, spaces, credentials = scheme.groups()
        self._name(name, where)
        whole = self._whole(credentials, basic=name.lower() == "basic")
        return name + spaces + (whole if whole is not None else self._text(credentials, where))

    def _uri(self, uri: str, where: str) -> str:
        path, mark, query = uri.partition("?")
        return self._text(path, where) + (mark + self._fields(query, where) if mark else "")

    def _fields(self, encoded: str, where: str) -> str:
        """A query or a form body: each field's value, replaced whole where it is a secret."""
        fields = []
        for field_ in encoded.split("&"):
            name, equals, value = field_.partition("=")
            name = self._name(name, where, decode=True)
            whole = self._whole(unquote_plus(value)) if equals else None
            fields.append(
                name
                + equals
                + (quote_plus(whole) if whole is not None else self._text(value, where))
            )
        return "&".join(fields)

    def _body(self, body: str | bytes, content_type: str, where: str) -> str | bytes:
        if isinstance(body, bytes):
            self._scan(body.decode("utf-8", "replace"), f"{where} (not text)")
            return body
        stripped = body.strip()
        if stripped[:1] in ("{", "[", '"'):
            try:
                json.loads(body)
            except ValueError:
                pass
            else:
                return self._json(body, where)
        if "x-www-form-urlencoded" in content_type:
            return self._fields(body, where)
        return self._text(body, where)

    def _json(self, body: str, where: str) -> str:
        """A JSON text, byte for byte but for the strings that are a secret."""
        pieces, at = [], 0
        for string in _JSON_STRING.finditer(body):
            self._scan(body[at : string.start()], where)  # numbers, literals, punctuation
            pieces.append(body[at : string.start()])
            token = string.group()
            decoded = json.loads(token)
            if _COLON.match(body, string.end()):
                self._name(decoded, where)
                pieces.append(token)
            else:
                whole = self._whole(decoded)
                if whole is not None:
                    pieces.append(json.dumps(whole))
                else:
                    inner = self._text(token[1:-1], where)
                    self._scan(json.loads(f'"{inner}"'), where)
                    pieces.append(f'"{inner}"')
            at = string.end()
        self._scan(body[at:], where)
        pieces.append(body[at:])
        return "".join(pieces)

    def _whole(self, value: str, basic: bool = False) -> str | None:
        """The placeholder of the secret ``value`` is, if it is one (and replacing is on)."""
        for secret in self.secrets:
            if secret.basic == basic and (
                value == secret.value or (basic and value.rstrip("=") == secret.value)
            ):
                return secret.placeholder if self.replace else None
        return None

    def _text(self, text: str, where: str) -> str:
        """Running text: a secret replaced where it stands as a whole word, a long one
        wherever it stands; a short one inside a longer word is that word's."""
        for secret in self.secrets:
            spans = [(a, b) for a, b, whole in secret.hits(text) if whole or secret.long]
            if spans and self.replace:
                pieces, at = [], 0
                for start, end in merged_spans(sorted(spans)):
                    pieces += [text[at:start], secret.placeholder]
                    at = end
                text = "".join([*pieces, text[at:]])
        self._scan(text, where)
        return text

    def _name(self, name: str, where: str, decode: bool = False) -> str:
        """A header's, field's or key's name: only a long secret is looked for (a short one
        equal to a name is the name); never replaced."""
        text = unquote_plus(name) if decode else name
        for secret in self.secrets:
            if secret.long and any(True for _ in secret.hits(text)):
                self._problem(secret, f"{where} (a name)")
                break
        return name

    def _scan(self, text: str, where: str) -> None:
        # The placeholders put in are ours: a weak password ("password") may be a word of them.
        bare = text
        for secret in self.secrets:
            bare = bare.replace(secret.placeholder, " ")
        for secret in self.secrets:
            if secret.found_in(text) or secret.glued_in(bare):
                self._problem(secret, where)
                return

    def _other(self, value: Any, where: str) -> Any:
        """What vcrpy writes besides the messages (a version, a status): read as text."""
        if isinstance(value, str):
            return self._text(value, where)
        if isinstance(value, bytes):
            self._scan(value.decode("utf-8", "replace"), f"{where} (not text)")
        elif isinstance(value, dict):
            return {
                self._name(str(key), where) if isinstance(key, str) else key: self._other(
                    item, f"{where} {key}"
                )
                for key, item in value.items()
            }
        elif isinstance(value, list):
            return [self._other(item, where) for item in value]
        return value

    def _problem(self, secret: _Secret, where: str) -> None:
        problem = f"{secret.what} in {where}"
        if problem not in self.problems:
            self.problems.append(problem)


def _content_type(headers: Any) -> str:
    if isinstance(headers, dict):
        for name, values in headers.items():
            if str(name).lower() == "content-type" and isinstance(values, list) and values:
                return str(values[0]).lower()
    return ""


def placed(data: Any, known: KnownSecrets) -> tuple[Any, list[str]]:
    """A parsed API cassette with the placeholders in (each changed body's length fixed),
    and what could not be replaced; read once more, what it then still holds."""
    secrets = secrets_of(known)
    reading = Reading(secrets, replace=True)
    result = reading.cassette(data)
    if isinstance(data, dict) and isinstance(result, dict):
        interactions = data.get("interactions") or ()
        pairs = zip(interactions, result.get("interactions") or (), strict=False)
        for before, after in pairs:
            for part, body in (("request", ("body",)), ("response", ("body", "string"))):
                _fix_length(_at(before, part), _at(after, part), body)
    return result, reading.problems or scanned(result, secrets)


def scanned(data: Any, secrets: list[_Secret]) -> list[str]:
    """What a parsed API cassette holds of ``secrets``, read as the replacement reads it."""
    reading = Reading(secrets, replace=False)
    reading.cassette(data)
    return reading.problems


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
    """Which secret of the run a written token cassette (``text``, parsed as ``data``) still
    holds, and where; None: none. ``named``: secrets to call by a name of their own. A long
    secret is looked for in any form the masker knows, its pieces too; a short one where it
    stands as a word (``q`` is in every file)."""
    long = KnownSecrets()
    for value in known.values():
        if len(value) >= LONG:
            long.add(value)
    for name, value in known.pairs():
        if len(value) >= LONG:
            long.add_pair(name, value)
    masker = long.masker()
    short = [secret for secret in secrets_of(known) if secret.basic or not secret.long]

    def reveals(string: str) -> bool:
        string = without_vocabulary(string)
        return masker.reveals(string) or any(secret.found_in(string) for secret in short)

    for where, string in strings(data, ""):
        if reveals(string):
            return f"{_what(string, known, named)} at {where.lstrip('/')}"
    if reveals(text):
        return f"{_what(text, known, named)} in the file"
    return None


def _what(text: str, known: KnownSecrets, named: Sequence[tuple[str, str]]) -> str:
    """Which secret ``text`` reveals, for the message: a cassette is fixed by knowing it."""
    kinds = [(f"the {kind.replace('_', ' ')}", value) for value, kind in known.kinds().items()]
    text = without_vocabulary(text)
    for what, value in [*named, *kinds]:
        if len(value) >= LONG:
            if masker_of(value).reveals(text):
                return what
        elif _Secret(value, what, MASK, frozenset({value})).found_in(text):
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
    beside: dict[str, Any] | None = None,
) -> Kept | Failure:
    """The one pipeline of every cassette before it is kept: serialize (with the top-level
    keys ``beside`` next to vcrpy's, which vcrpy reads past), replace barapi's secrets (an API
    cassette's; a token cassette has none left to replace), scan what is left (with ``scan``,
    else for every secret ``known``), keep or refuse. Never raises."""
    from vcr.serialize import deserialize, serialize

    try:
        text = serialize(cassette_dict, serializer)
        if beside:
            text = serializer.serialize({**serializer.deserialize(text), **beside})
        data = serializer.deserialize(text)
        if purpose == API:
            with_placeholders, problems = placed(data, known)
            if problems:
                return _refusal(purpose, shown(path), problems[0])
            if with_placeholders != data:
                text = serializer.serialize(with_placeholders)
                requests, responses, *metadata = deserialize(text, serializer)
                cassette_dict = {"requests": requests, "responses": responses}
                if metadata:
                    cassette_dict["metadata"] = metadata[0]
            # What is written, read back as a replay will read it.
            data = serializer.deserialize(text)
            found = scanned(data, secrets_of(known))
            finding = found[0] if found else None
        else:
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
            "it was not written, and a cassette there before is kept as it was. Check what the "
            "token endpoint sends back, or report this as a pytest-barapi bug."
        )
    return Failure(
        f"refusing to keep the cassette {shown}: it holds {finding}, where no placeholder can "
        "take its place without changing what is around it; it was not written. Keep that "
        "secret out of what the test sends and receives there."
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
                    write_whole(Path(deleted), content)
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


def write_whole(path: Path, content: bytes) -> None:
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
