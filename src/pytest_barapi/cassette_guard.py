"""What a cassette may hold: placeholders for barapi's secrets, and a scan for what is left.

A token cassette keeps only what its replay needs: the grant with placeholders for the
credentials, and the answer's status, content type and token fields, the tokens replaced by
placeholders, keys sorted. So it holds no secret, and re-recording the same exchange writes
the same bytes (no date, no server or client version). Any other cassette of the run (an API
cassette pytest-recording writes) keeps everything, except barapi's secrets: each form of each
one is replaced, by value, with the placeholder a replay sends in its place. Every written file
is then scanned with the run's masker, so a leak in any form it knows is caught even where a
placeholder did not go in.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from pytest_barapi.identity import Identity
from pytest_barapi.known_secrets import KnownSecrets, masker_of
from pytest_barapi.masking import Masker
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
class CassetteScan:
    """A token cassette's scrubbers, and the scan of the written file.

    Secrets (every one the run knows, including each token the response carried) are looked
    for anywhere in the file; the user name and client id in the recorded requests only, as
    they may rightly appear elsewhere (a user named "barapi" in the host name).
    """

    identity: Identity
    known: KnownSecrets

    def scrub_response(self, response: dict[str, Any]) -> dict[str, Any] | None:
        """vcrpy's before_record_response: the token fields, the tokens as placeholders, and
        nothing else; a failed exchange is dropped."""
        if not 200 <= response["status"]["code"] < 300:
            return None  # never record a failed exchange (a 503 that a retry got past, say)
        try:
            body = json.loads(response["body"]["string"])
        except ValueError:
            return None  # not a token answer: the exchange fails, and nothing is saved
        if not isinstance(body, dict):
            return None
        # Every token the answer carries is a secret of the run from now on.
        self.known.know_answer(body)
        for name, placeholder in RESPONSE_PLACEHOLDERS.items():
            if body.get(name) is not None:
                body[name] = placeholder
        kept = {name: body[name] for name in TOKEN_FIELDS if name in body}
        text = json.dumps(kept, sort_keys=True)
        headers = {"Content-Length": [str(len(text.encode()))]}
        content_type = _header(response["headers"], "Content-Type")
        if content_type is not None:
            headers["Content-Type"] = content_type
        return {"status": response["status"], "headers": headers, "body": {"string": text}}

    def leak(self, text: str, data: Any) -> str | None:
        """What the written file (``text``, parsed as ``data``) still holds, and where."""
        named = [
            ("the password", self.identity.password),
            ("the client secret", self.identity.client_secret),
        ]
        finding = leak(text, data, self.known, [(what, s.reveal()) for what, s in named if s])
        if finding is not None:
            return finding
        interactions = data.get("interactions") if isinstance(data, dict) else None
        requests = [i.get("request") for i in interactions or () if isinstance(i, dict)]
        identifiers = [
            ("the user name", self.identity.user),
            ("the client id", self.identity.client_id),
        ]
        for what, value in identifiers:
            if not value:
                continue
            masker = masker_of(value)
            for request in requests:
                if not isinstance(request, dict):
                    continue
                for part in ("body", "headers"):
                    for where, string in _strings(request.get(part), f"request/{part}"):
                        if masker.reveals(_without_vocabulary(string)):
                            return f"{what} at {where}"
        return None


def bare_request(request: Any) -> Any:
    """vcrpy's before_record_request for a token cassette: no header (replay matches on
    method and URL; a User-Agent would change with every version of requests)."""
    request.headers = {}
    return request


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
    for where, string in _strings(data, ""):
        if masker.reveals(_without_vocabulary(string)):
            return f"{_what(string, known, named)} at {where.lstrip('/')}"
    if masker.reveals(_without_vocabulary(text)):
        return f"{_what(text, known, named)} in the file"
    return None


def _what(text: str, known: KnownSecrets, named: Sequence[tuple[str, str]]) -> str:
    """Which secret ``text`` reveals, for the message: a cassette is fixed by knowing it."""
    kinds = [(f"the {kind.replace('_', ' ')}", value) for value, kind in known.kinds().items()]
    for what, value in [*named, *kinds]:
        if masker_of(value).reveals(_without_vocabulary(text)):
            return what
    return "a secret of the run"


def _header(headers: dict[str, Any], name: str) -> Any:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


# A vocabulary word standing on its own (a field name, a placeholder), not inside a longer
# value: a weak password equal to one ("password") is not a leak where it is only that word.
_VOCABULARY_WORD = re.compile(
    r"(?<![\w-])(?:"
    + "|".join(re.escape(word) for word in sorted(VOCABULARY, key=len, reverse=True))
    + r")(?![\w-])"
)


def _without_vocabulary(text: str) -> str:
    return _VOCABULARY_WORD.sub("\0", text)


def _outside_vocabulary(text: str, change: Callable[[str], str]) -> str:
    """``text`` changed by ``change`` between its vocabulary words, which stay as they are (a
    placeholder is not rewritten by a weak password that is part of it)."""
    pieces, start = [], 0
    for word in _VOCABULARY_WORD.finditer(text):
        pieces += [change(text[start : word.start()]), word.group()]
        start = word.end()
    return "".join([*pieces, change(text[start:])])


def _strings(data: Any, where: str) -> Iterator[tuple[str, str]]:
    """Every string (and dict key) in a parsed cassette, bytes decoded, with where it is."""
    if isinstance(data, str):
        yield where, data
    elif isinstance(data, bytes):
        yield where, data.decode("utf-8", "replace")
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from _strings(key, where)
            yield from _strings(value, f"{where}/{key}")
    elif isinstance(data, (list, tuple)):
        for item in data:
            yield from _strings(item, where)
