"""What a token-exchange cassette may hold: placeholders in, every real value scanned out.

The credentials in the recorded request and the tokens in the recorded response are replaced
by fixed placeholders; the written file is then scanned for the real values (raw, URL-encoded,
JSON-escaped), so a leak is caught even where a placeholder did not go in.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus

from pytest_barapi.identity import Identity
from pytest_barapi.scrubbing import basic_credentials

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
    """The real values a cassette must not hold, and the response scrubber that collects them.

    Secrets (password, client secret, every token the response carried) are looked for
    anywhere in the file; the user name and client id in the recorded requests only, as they
    may rightly appear elsewhere (a user named "barapi" in the host name).
    """

    secrets: list[tuple[str, str]] = field(default_factory=list)
    identifiers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def of(cls, identity: Identity) -> CassetteScan:
        scan = cls()
        if identity.password:
            scan.secrets.append(("the password", identity.password.reveal()))
        if identity.client_secret:
            secret = identity.client_secret.reveal()
            scan.secrets.append(("the client secret", secret))
            client = identity.client_id or ""
            # HTTP Basic client authentication (RFC 6749 §2.3.1): the forms the scrubber masks.
            for basic in sorted(basic_credentials(client, secret)):
                scan.secrets.append(("the client credentials (HTTP Basic)", basic))
        if identity.user:
            scan.identifiers.append(("the user name", identity.user))
        if identity.client_id:
            scan.identifiers.append(("the client id", identity.client_id))
        return scan

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
                self.secrets.append((f"the {name.replace('_', ' ')}", str(body[name])))
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
        """Which real value the written file (``text``, parsed as ``data``) still holds, where."""
        for what, value in self.secrets:
            for form, needle in _forms(value):
                for where, string in _strings(data, ""):
                    if _occurs(needle, string):
                        return f"{what} ({form}) at {where.lstrip('/')}"
                if _occurs(needle, text):
                    return f"{what} ({form}) in the file"
        interactions = data.get("interactions") if isinstance(data, dict) else None
        requests = [i.get("request") for i in interactions or () if isinstance(i, dict)]
        for what, value in self.identifiers:
            for form, needle in _forms(value):
                for request in requests:
                    if not isinstance(request, dict):
                        continue
                    for part in ("body", "headers"):
                        for where, string in _strings(request.get(part), f"request/{part}"):
                            if _occurs(needle, string):
                                return f"{what} ({form}) at {where}"
        return None


def fix_content_length(request: Any) -> Any:
    """After the placeholders went in: the real body's length would hint at the secrets'."""
    if "Content-Length" in request.headers:
        request.headers["Content-Length"] = str(len(request.body or b""))
    return request


def _forms(value: str) -> Iterator[tuple[str, str]]:
    seen = set()
    for form, text in (
        ("raw", value),
        ("URL-encoded", quote_plus(value)),
        ("URL-encoded", quote(value, safe="")),
        ("URL-encoded", quote(value)),
        ("JSON-escaped", json.dumps(value)[1:-1]),
    ):
        if text and text not in seen:
            seen.add(text)
            yield form, text


def _occurs(needle: str, text: str) -> bool:
    """Whether ``needle`` is in ``text`` anywhere but inside a vocabulary word."""
    start = text.find(needle)
    if start < 0:
        return False
    covered = [
        (at, at + len(word))
        for word in VOCABULARY
        if needle in word
        for at in _positions(word, text)
    ]
    for at in _positions(needle, text, start):
        if not any(begin <= at and at + len(needle) <= end for begin, end in covered):
            return True
    return False


def _positions(needle: str, text: str, start: int = 0) -> Iterator[int]:
    at = text.find(needle, start)
    while at >= 0:
        yield at
        at = text.find(needle, at + 1)


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
