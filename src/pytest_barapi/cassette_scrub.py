"""What a token-exchange cassette may hold: placeholders in, every real value scanned out.

The credentials in the recorded request and the tokens in the recorded response are replaced
by fixed placeholders; the written file is then scanned with the run's masker, so a leak in any
form it knows is caught even where a placeholder did not go in.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pytest_barapi.identity import Identity
from pytest_barapi.masking import Masker
from pytest_barapi.secrets import KnownSecrets

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
DROPPED_REQUEST_HEADERS = ("Authorization", "Cookie")
DROPPED_RESPONSE_HEADERS = frozenset({"set-cookie", "transfer-encoding"})
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
    """The response scrubber, and the scan of the written file for what must not be there.

    Secrets (every one the run knows, including each token the response carried) are looked
    for anywhere in the file; the user name and client id in the recorded requests only, as
    they may rightly appear elsewhere (a user named "barapi" in the host name).
    """

    identity: Identity
    known: KnownSecrets
    # What each token of the answer is called, to name it in a finding.
    _tokens: dict[str, str] = field(default_factory=dict)

    def scrub_response(self, response: dict[str, Any]) -> dict[str, Any] | None:
        """vcrpy's before_record_response: tokens become placeholders; failures are dropped."""
        if not 200 <= response["status"]["code"] < 300:
            return None  # never record a failed exchange (a 503 that a retry got past, say)
        try:
            body = json.loads(response["body"]["string"])
        except ValueError:
            return None  # not a token answer: the exchange fails, and nothing is saved
        if not isinstance(body, dict):
            return None
        for name, placeholder in RESPONSE_PLACEHOLDERS.items():
            if body.get(name) is not None:
                # Every token the answer carries is a secret of the run from now on.
                self.known.add(str(body[name]))
                self._tokens[f"the {name.replace('_', ' ')}"] = str(body[name])
                body[name] = placeholder
        text = json.dumps(body).encode()
        headers = {
            name: values
            for name, values in response["headers"].items()
            if name.lower() not in DROPPED_RESPONSE_HEADERS
        }
        headers["Content-Length"] = [str(len(text))]
        return {**response, "headers": headers, "body": {"string": text}}

    def leak(self, text: str, data: Any) -> str | None:
        """What the written file (``text``, parsed as ``data``) still holds, and where."""
        masker = Masker(self.known)
        for where, string in _strings(data, ""):
            if masker.reveals(_without_vocabulary(string)):
                return f"{self._what(string)} at {where.lstrip('/')}"
        if masker.reveals(_without_vocabulary(text)):
            return f"{self._what(text)} in the file"
        interactions = data.get("interactions") if isinstance(data, dict) else None
        requests = [i.get("request") for i in interactions or () if isinstance(i, dict)]
        identifiers = [
            ("the user name", self.identity.user),
            ("the client id", self.identity.client_id),
        ]
        for what, value in identifiers:
            if not value:
                continue
            masker = _masker_of(value)
            for request in requests:
                if not isinstance(request, dict):
                    continue
                for part in ("body", "headers"):
                    for where, string in _strings(request.get(part), f"request/{part}"):
                        if masker.reveals(_without_vocabulary(string)):
                            return f"{what} at {where}"
        return None

    def _what(self, text: str) -> str:
        """Which secret ``text`` reveals, for the message: a cassette is fixed by knowing it."""
        named = [
            ("the password", self.identity.password),
            ("the client secret", self.identity.client_secret),
        ]
        values = [(what, secret.reveal()) for what, secret in named if secret]
        for what, value in [*values, *self._tokens.items()]:
            if _masker_of(value).reveals(_without_vocabulary(text)):
                return what
        return "a secret of the run"


def fix_content_length(request: Any) -> Any:
    """After the placeholders went in: the real body's length would hint at the secrets'."""
    if "Content-Length" in request.headers:
        request.headers["Content-Length"] = str(len(request.body or b""))
    return request


def _masker_of(value: str) -> Masker:
    known = KnownSecrets()
    known.add(value)
    return Masker(known)


# A vocabulary word standing on its own (a field name, a placeholder), not inside a longer
# value: a weak password equal to one ("password") is not a leak where it is only that word.
_VOCABULARY_WORD = re.compile(
    r"(?<![\w-])(?:"
    + "|".join(re.escape(word) for word in sorted(VOCABULARY, key=len, reverse=True))
    + r")(?![\w-])"
)


def _without_vocabulary(text: str) -> str:
    return _VOCABULARY_WORD.sub("\0", text)


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
