"""The guard every cassette of the run passes before it is kept, and what a cassette may hold.

Two kinds of cassette are written in a run: the token exchange's
(:mod:`pytest_barapi.token_cassette`), and the ones pytest-recording writes for the tests (API
cassettes: ``barapi_session`` puts the bearer token on every call, and a test may send or
receive any other secret of the run). Both pass one pipeline, :func:`guarded`: serialize,
replace barapi's secrets, scan what is left, keep or refuse. A refusal is a
:class:`~pytest_barapi.outcome.Failure`, and the file is not written; the cassette the test
had before (which pytest-recording deletes under ``--record-mode=rewrite``) is put back as it
was.

A token cassette keeps only what its replay needs (its own recording hooks see to it), so it
holds no secret, and re-recording the same exchange writes the same bytes; its scan reads it
as an API cassette's scan does, by structure (no piece of a secret is looked for: the terminal
does that), but for the words barapi writes there (``leak``). An API cassette is the user's:
its filters and hooks, headers and bodies are kept as they are; only barapi's secrets are
replaced, by structure, not by substring (:class:`Reading`: a token or long secret wherever it
stands, a value given to ``barapi_mask`` where it stands whole, a shorter one where the
structure says the value is a credential), with the
placeholder a replay sends in its place (``Bearer placeholder-access-token``). A short secret
inside a word of the data is the data's, and is not touched; one standing as a value where
nothing says it is a credential may be the data itself, and is a refusal (:class:`Ambiguous`),
as is a secret the masker would find where no placeholder can go without changing what is
around it: each names which secret and where. The check
before writing is the same reading of the file as it will be written, without replacing, so the
two never disagree. A run that knows no secret writes every API cassette exactly as
pytest-recording would.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import tempfile
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, unquote_plus

import pytest

from pytest_barapi.known_secrets import MASKED, TOKEN_KINDS, KnownSecrets
from pytest_barapi.masking import MIN_PIECE, SHORT, basic_forms, standing_alone, written
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

# A form of a secret this long is that secret wherever it stands, inside a longer word too
# (the masker masks it, and its pieces, anywhere). A shorter one is replaced only where it
# stands as a whole value that is a credential's; inside a word or a sentence it is another
# word ("test" in "latest", "first" in "... the latest runs first").
LONG = MIN_PIECE
# The headers whose values HTTP itself defines (media types, codings, connection options,
# dates, lengths, the server's and the client's product names): what a short secret equal to
# one of their words is, there, is that word ("close", "OK", "1234" as a length). A long
# secret is still replaced there, and one of SHORT characters or more is still refused.
PROTOCOL_HEADERS = frozenset(
    {
        "accept",
        "accept-charset",
        "accept-encoding",
        "accept-language",
        "accept-ranges",
        "access-control-allow-credentials",
        "access-control-allow-headers",
        "access-control-allow-methods",
        "access-control-allow-origin",
        "access-control-expose-headers",
        "access-control-max-age",
        "access-control-request-headers",
        "access-control-request-method",
        "age",
        "allow",
        "cache-control",
        "connection",
        "content-encoding",
        "content-language",
        "content-length",
        "content-range",
        "content-type",
        "date",
        "expect",
        "expires",
        "host",
        "keep-alive",
        "last-modified",
        "pragma",
        "range",
        "referrer-policy",
        "server",
        "strict-transport-security",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "vary",
        "via",
        "www-authenticate",
        "x-content-type-options",
        "x-frame-options",
    }
)
# Headers whose value is a URI: read as the request's URI is.
URI_HEADERS = frozenset({"location", "content-location", "referer"})
# The header names HTTP defines: a short secret equal to one is that name there.
_HTTP_HEADER_NAMES = PROTOCOL_HEADERS | URI_HEADERS | {"authorization", "cookie", "set-cookie"}
# What a cassette says in place of a secret: never read as a secret (a weak password, such as
# "password" or "access", may be a word of them).
_OURS = re.compile(
    "|".join(re.escape(text) for text in sorted({*PLACEHOLDERS.values(), MASK}, reverse=True))
)
# One character of a JSON string as written (an escape, a surrogate pair, or itself): where
# each character of the decoded string comes from, so a placeholder goes in its place.
_JSON_CHAR = re.compile(
    r"\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|\\u[0-9a-fA-F]{4}|\\.|.",
    re.DOTALL,
)
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_COLON = re.compile(r"\s*:")
_SCHEME = re.compile(r"([A-Za-z][\w-]*)( +)(\S+)\Z")
_AUTHORITY = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*")
# What separates the words of a text, for the token cassette's scan (``leak``): a short
# secret is found there only between these (or at an end).
_SEPARATORS = frozenset(" \t\r\n\"'()[]{}<>,;=&")


@dataclass(frozen=True)
class _Secret:
    """One secret of the run as a cassette may show it."""

    value: str
    what: str  # for a message: which secret, by kind, never its value
    placeholder: str
    forms: frozenset[str]  # how text writes it: plain, URL-encoded, JSON-escaped, in bytes
    basic: bool = False  # the base64 of an HTTP Basic pair, not a value
    token: bool = False  # a token the token endpoint issued: never the API's data
    # A value the user gave to barapi_mask: declared a secret, so never the API's data.
    declared: bool = False
    # Which setting the run shows as it is (the user name, the client id) holds the same
    # text, if one does: then the secret is not sure to be a secret where it stands.
    collides: str | None = None

    @property
    def long(self) -> bool:
        return len(self.value) >= LONG

    @property
    def sure(self) -> bool:
        """Whether the secret is one wherever it stands whole: a token, a value given to
        ``barapi_mask``, or a secret of ``LONG`` characters or more that no setting shown as
        it is shares."""
        return (self.token or self.declared or self.long) and self.collides is None

    @cached_property
    def alone(self) -> re.Pattern[str]:
        """Where a form stands as a whole value (as the masker finds a short secret)."""
        return standing_alone(sorted(self.forms, key=len, reverse=True))

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


def _forms(value: str) -> set[str]:
    """How text may write ``value``, as the masker finds it whole: plain, URL-encoded (UTF-8
    and latin-1), JSON-escaped up to three levels (with ``\\/`` too), as XML or HTML writes it,
    and in a repr or ``ascii()`` of it or of its bytes."""
    # Plain, URL-encoded and as a bytes repr, in UTF-8 and latin-1: as the masker writes it.
    forms = written(value) | {
        ascii(value)[1:-1],
        repr(value)[1:-1],
        repr(value.encode(errors="surrogatepass"))[2:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
    }
    escaped = value
    for _ in range(3):
        escaped = json.dumps(escaped)[1:-1]
        upper = _JSON_UNICODE.sub(lambda escape: "\\u" + escape.group()[2:].upper(), escaped)
        forms |= {escaped, escaped.replace("/", "\\/"), upper}
    forms |= _xml_forms(value)
    return {form for form in forms if form}


# A \uXXXX escape of JSON, whose hex digits a writer may give in either case.
_JSON_UNICODE = re.compile(r"\\u[0-9a-fA-F]{4}")
# How XML and HTML writers escape the quotes: named, decimal, hexadecimal (html.escape writes
# &quot; and &#x27;, markupsafe &#34; and &#39;, XML's own &apos;).
_QUOTES = {
    '"': ("&quot;", "&#34;", "&#x22;"),
    "'": ("&apos;", "&#39;", "&#x27;"),
}


def _xml_forms(value: str) -> set[str]:
    """``value`` as XML and HTML writers escape it: ``&amp;``, ``&lt;``, ``&gt;``, each way of
    writing the quotes, and every special or non-ASCII character as a numeric reference."""
    forms = set()
    for double in _QUOTES['"']:
        for single in _QUOTES["'"]:
            named = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': double, "'": single}
            forms.add("".join(named.get(char, char) for char in value))
    for reference in ("&#{};", "&#x{:x};", "&#x{:X};"):
        forms.add(
            "".join(
                reference.format(ord(char)) if char in "&<>\"'" or ord(char) > 127 else char
                for char in value
            )
        )
    return forms


def secrets_of(known: KnownSecrets) -> list[_Secret]:
    """Every secret ``known`` holds, longest first (one secret can contain another)."""
    kinds = known.kinds()
    # Whose secret each pair's is, by name: a setting the API may show as it is.
    shown_as_is = {
        name: "the client id" if kinds.get(value) == "client_secret" else "the user name"
        for name, value in known.pairs()
    }
    found = []
    for value in known.values():
        kind = kinds.get(value)
        if kind == MASKED:
            what = f"the {MASKED}"
        else:
            what = f"the {kind.replace('_', ' ')}" if kind else "a secret of the run"
        placeholder = PLACEHOLDERS.get(kind or "", MASK)
        found.append(
            _Secret(
                value,
                what,
                placeholder,
                frozenset(_forms(value)),
                token=kind in TOKEN_KINDS,
                declared=kind == MASKED,
                collides=shown_as_is.get(value),
            )
        )
    for name, value in known.pairs():
        for b64 in basic_forms(name, value):
            forms = {b64, b64 + "=" * (-len(b64) % 4)}
            found.append(
                _Secret(b64, "the HTTP Basic credentials", MASK, frozenset(forms), basic=True)
            )
    return sorted(found, key=lambda secret: len(secret.value), reverse=True)


# A secret found in a string: where, and which.
_Hit = tuple[int, int, _Secret]


@dataclass
class Reading:
    """One read of an API cassette (parsed), by its structure: with ``replace``, each secret
    standing where the structure says the value is a secret gets its placeholder; every
    other secret the masker would find there is a problem (which secret, where). Read again
    after the replacement, a cassette has no problem left: the scan is this same read,
    without replacing. A body is read as JSON, JSON lines, a form, or text.

    Replaced: a sure secret (:attr:`_Secret.sure`: a token, a value given to ``barapi_mask``, or
    one of ``LONG`` characters or more that no setting shown as it is shares) standing as a
    whole value, and one of ``LONG`` characters wherever it stands; another secret standing as a
    whole value (a header's value, a query or form field's, a JSON string that is the secret, or
    inside a string where the masker masks a short one: quoted, in parentheses, after ``=`` or
    ``:`` up to a space, a separator, a closing bracket or quote, the ``@`` of ``user:pw@`` or a
    full stop that ends a sentence, alone on a line) where the place says it is a credential
    (:func:`says_credential`: a word of the header's, field's or key's name, an HTTP
    authentication scheme, ``password=`` just before it), the secret and nothing around it
    (``alice:Koa7`` under ``auth``). Never touched: a secret shorter than ``SHORT`` inside a
    word or a sentence, a value of a header HTTP defines (``PROTOCOL_HEADERS``), the status
    message, vcrpy's own fields; a JSON number, ``true``, ``false`` or ``null`` (a password is a
    JSON string); a name (a header's, a field's, a JSON key) a short secret is inside of, or
    that is a header HTTP defines. Refused: a secret that is not sure standing as a whole value
    where nothing says it is a credential (:class:`Ambiguous`: it may be the API's data); a
    secret of ``SHORT`` to ``LONG`` characters inside a word or a sentence (the masker masks it
    wherever it shows, and a placeholder there would change what is around it), a secret in a
    body that is not text where it would be replaced, a long secret in a name or outside JSON's
    strings, a secret that is a whole name (:meth:`_name`).
    """

    secrets: list[_Secret]
    replace: bool
    problems: list[str] = field(default_factory=list)
    # False for the token cassette, which barapi writes whole from placeholders and the
    # protocol's words: a secret under LONG characters glued into one of them (the password
    # `application` in its Content-Type, `localhost` in its URL) is that word there.
    glued_is_a_problem: bool = True

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
                    self._name(name, self._header_at(name, where), header=True): self._header(
                        str(name).lower(), values, self._header_at(name, where)
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

    def _header(self, name: str, values: Any, where: str) -> Any:
        if not isinstance(values, list):
            return self._other(values, where)
        return [self._header_value(name, value, where) for value in values]

    def _header_value(self, name: str, value: Any, where: str) -> Any:
        if not isinstance(value, str):
            return self._other(value, where)
        if name in PROTOCOL_HEADERS:
            return self._text(value, where, protocol=True)
        if name in URI_HEADERS:
            return self._uri(value, where)
        credential = says_credential(name)
        whole = self._whole(value, where, credential)
        if whole is not None:
            return value if whole == _KEPT else whole
        scheme = _SCHEME.match(value)
        if scheme is None:
            return self._text(value, where, credential=credential)
        # "Bearer" is a name, even where it is the password.
        scheme_name, spaces, credentials = scheme.groups()
        self._name(scheme_name, where)
        credential = credential or scheme_name.lower() in AUTH_SCHEMES
        basic = scheme_name.lower() == "basic"
        whole = self._whole(credentials, where, credential, basic=basic)
        if whole is None:
            whole = self._text(credentials, where, credential=credential)
        return scheme_name + spaces + (credentials if whole == _KEPT else whole)

    def _uri(self, uri: str, where: str) -> str:
        # The scheme, host and port are HTTP's ("1234" as a port is a port).
        authority = _AUTHORITY.match(uri)
        head = authority.group() if authority else ""
        path, mark, query = uri[len(head) :].partition("?")
        return (
            self._text(head, where, protocol=True)
            + self._text(path, where)
            + (mark + self._fields(query, where) if mark else "")
        )

    def _fields(self, encoded: str, where: str) -> str:
        """A query or a form body: each field's value, replaced whole where it is a secret."""
        fields = []
        for field_ in encoded.split("&"):
            name, equals, value = field_.partition("=")
            name = self._name(name, where, decode=True, whole=True)
            credential = says_credential(unquote_plus(name))
            place = self._field(unquote_plus(name), where)
            whole = self._whole(unquote_plus(value), place, credential) if equals else None
            if whole is None:
                value = self._text(value, place, credential=credential)
            elif whole != _KEPT:
                value = quote_plus(whole)
            fields.append(name + equals + value)
        return "&".join(fields)

    def _body(self, body: str | bytes, content_type: str, where: str) -> str | bytes:
        if isinstance(body, bytes):
            # No placeholder goes into bytes: where one would, the cassette is refused.
            self._bytes(body, f"{where} (not text)")
            return body
        stripped = body.strip()
        if stripped[:1] in ("{", "[", '"'):
            try:
                json.loads(body)
            except ValueError:
                pass
            else:
                return self._json(body, where)
        lines = _LINE.findall(body)
        if len(lines) > 1 and all(_is_json(line) for line in lines if line.strip()):
            # JSON lines (NDJSON, JSON Lines): each line a JSON text, read as one.
            return "".join(self._json(line, where) for line in lines)
        if "x-www-form-urlencoded" in content_type:
            return self._fields(body, where)
        return self._text(body, where)

    def _json(self, body: str, where: str) -> str:
        """A JSON text, byte for byte but for the secrets in its strings."""
        pieces, at = [], 0
        # For each object and array open where the reading is: the name its values are under
        # (an object's last key; an array's, the name the array itself is under).
        names: list[list[str | None]] = []
        for string in _JSON_STRING.finditer(body):
            # Numbers, true, false, null, punctuation: a password is a JSON string.
            between = body[at : string.start()]
            self._outside(between, where)
            _follow(between, names)
            pieces.append(between)
            token = string.group()
            decoded = json.loads(token)
            if _COLON.match(body, string.end()):
                self._name(decoded, where, whole=True)
                if names:
                    names[-1][0] = decoded
                pieces.append(token)
            else:
                name = names[-1][0] if names else None
                place = where if name is None else self._field(name, where)
                credential = name is not None and says_credential(name)
                pieces.append(self._json_string(token, decoded, place, credential))
            at = string.end()
        self._outside(body[at:], where)
        pieces.append(body[at:])
        return "".join(pieces)

    def _json_string(self, token: str, decoded: str, where: str, credential: bool) -> str:
        """A JSON string as written (``token``), its secrets replaced where they are in the
        string it decodes to; every other character as it was written."""
        hits = self._hits(decoded, where, credential=credential)
        if not hits:
            return token
        if not self.replace:
            self._problem(hits[0][2], where)
            return token
        inner = token[1:-1]
        chars = [char.span() for char in _JSON_CHAR.finditer(inner)]
        if len(chars) != len(decoded):  # not read as json reads it: replace nothing
            self._problem(hits[0][2], where)
            return token
        written = [(chars[start][0], chars[end - 1][1], secret) for start, end, secret in hits]
        return f'"{_spliced(inner, written)}"'

    def _whole(self, value: str, where: str, credential: bool, basic: bool = False) -> str | None:
        """The placeholder of the secret ``value`` is, if it is one (and replacing is on);
        ``_KEPT``: it is one, but ambiguous there (a problem), and stays as it is."""
        for secret in self.secrets:
            if secret.basic == basic and (
                value == secret.value or (basic and value.rstrip("=") == secret.value)
            ):
                if not (secret.sure or credential):
                    self._ambiguous(secret, where)
                    return _KEPT
                return secret.placeholder if self.replace else None
        return None

    def _header_at(self, name: Any, where: str) -> str:
        """Where a header is, for a message: its name, unless a secret shows in it."""
        if any(any(secret.hits(str(name))) for secret in self.secrets):
            return f"{where} header"
        return f"{where} header {name}"

    def _field(self, name: str, where: str) -> str:
        """Where a field's (or JSON key's) value is, for a message: its name, unless a secret
        shows in it."""
        if any(any(secret.hits(name)) for secret in self.secrets):
            return f"{where}, a field"
        if MASK in name:  # a word of the grant, set aside by the token cassette's scan
            return where
        return f"{where}, field {name}"

    def _text(
        self,
        text: str,
        where: str,
        *,
        protocol: bool = False,
        fixed: bool = False,
        credential: bool = False,
    ) -> str:
        """A string of the cassette (a header's value, a path, a field's value, a text body):
        its secrets replaced where they stand as a whole value, a long one wherever it stands.
        ``protocol``: a value HTTP defines, where only a long secret is. ``fixed``: nothing is
        replaced (bytes); a secret that would be is a problem. ``credential``: the place says
        it holds a credential (see :func:`says_credential`)."""
        hits = self._hits(text, where, protocol=protocol, credential=credential)
        if not hits:
            return text
        if not self.replace or fixed:
            self._problem(hits[0][2], where)
            return text
        return _spliced(text, hits)

    def _hits(
        self, text: str, where: str, protocol: bool = False, credential: bool = False
    ) -> list[_Hit]:
        """Where ``text`` holds a secret to replace, longest first, none inside another or
        inside a placeholder: a sure one (:attr:`_Secret.sure`) standing as a value or, as
        long as ``LONG``, anywhere; another standing as a value where the place
        (``credential``) or the name just before it (``password=``) says it is a credential.
        Standing as a value elsewhere, it is ambiguous (a problem). A secret of SHORT to LONG
        characters that stands inside a word or a sentence is a problem: the masker masks it
        there, and replacing it would change what is around."""
        taken = [match.span() for match in _OURS.finditer(text)]
        found: list[_Hit] = []
        for secret in self.secrets:
            alone = secret.alone
            spans = sorted(
                ((start, end) for start, end, _ in secret.hits(text)),
                key=lambda span: span[0] - span[1],
            )
            for start, end in spans:
                if any(start < until and since < end for since, until in taken):
                    continue
                standing = (match := alone.match(text, start)) is not None and (match.end() == end)
                value = standing and not protocol
                said = value and (credential or _said_before(text, start))
                if said or (secret.sure and (end - start >= LONG or value)):
                    found.append((start, end, secret))
                    taken.append((start, end))
                elif value:
                    self._ambiguous(secret, where)
                elif end - start >= SHORT and self.glued_is_a_problem:
                    self._problem(secret, where)
        return sorted(found, key=lambda hit: hit[0])

    def _outside(self, text: str, where: str) -> None:
        """JSON outside its strings: a long secret there is a problem, a short one a number
        or a literal of the data."""
        for secret in self.secrets:
            if secret.sure and any(end - start >= LONG for start, end, _ in secret.hits(text)):
                self._problem(secret, where)
                return

    def _name(
        self, name: str, where: str, decode: bool = False, whole: bool = False, header: bool = False
    ) -> str:
        """A name, never replaced (a placeholder would change what the replay gives the test):
        a long secret in it is a problem, and in an API cassette so is a secret that is the
        whole name (``whole``: a field's or JSON key's; ``header``: a header's, after an
        ``X-``, unless HTTP defines it), as in ``{"Koa7": 1}``, ``Koa7=1``, ``X-Koa7: 1``.
        A short secret inside a name (``staff`` in ``is_staff``) is the name's."""
        text = unquote_plus(name) if decode else name
        if header and text.lower() not in _HTTP_HEADER_NAMES:
            whole, text = True, text[2:] if text[:2].lower() == "x-" else text
        for secret in self.secrets:
            if secret.sure and any(end - start >= LONG for start, end, _ in secret.hits(text)):
                self._problem(secret, f"{where} (a name)")
                break
            if whole and self.glued_is_a_problem and not secret.basic and text in secret.forms:
                self._problem(secret, f"{where} (a name)")
                break
        return name

    def _other(self, value: Any, where: str) -> Any:
        """What vcrpy writes besides the messages (a version, a status and its message), or
        a hook's odd value: read as a value HTTP defines."""
        if isinstance(value, str):
            return self._text(value, where, protocol=True)
        if isinstance(value, bytes):
            self._bytes(value, f"{where} (not text)")
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

    def _bytes(self, value: bytes, where: str) -> None:
        """Bytes, read as UTF-8 and as latin-1 (a server may answer in either): a secret
        that would be replaced there is a problem."""
        for text in {value.decode("utf-8", "replace"), value.decode("latin-1")}:
            self._text(text, where, fixed=True)

    def _problem(self, secret: _Secret, where: str) -> None:
        problem = f"{secret.what} in {where}"
        if problem not in self.problems:
            self.problems.append(problem)

    def _ambiguous(self, secret: _Secret, where: str) -> None:
        same = f" (the same text as {secret.collides})" if secret.collides else ""
        problem = Ambiguous(f"{secret.what}{same} as a value in {where}")
        kind = secret.what.removeprefix("the ")
        problem.kind = kind if kind in ("password", "client secret") else "secret"
        if problem not in self.problems:
            self.problems.append(problem)


class Ambiguous(str):
    """A problem of a secret standing as a whole value where nothing says it is a credential:
    it may be the API's own data, so it is neither replaced nor kept. ``kind``: which secret,
    by kind (``password``), for the advice."""

    kind = "secret"


# What _whole says of a secret it leaves as it is (ambiguous there): never a placeholder.
_KEPT = ""


def says_credential(name: str) -> bool:
    """Whether a name (a header's, a field's, a JSON key) says its value is a credential: one
    of its words (:func:`name_words`) is a credential's (``_CREDENTIAL_WORDS``, or ``api``
    then ``key``), and its last word does not tell about one (``_ABOUT_A_CREDENTIAL``):
    ``Authorization``, ``old_password``, ``newPassword``, ``client_secret``, ``X-Api-Key``,
    ``access_token``, ``pwd``, ``apikey``. A word of the name, never a piece of one: a
    ``secretary``, a ``tokenizer`` or ``passwordless`` holds the API's data."""
    words = name_words(name)
    if not words or words[-1] in _ABOUT_A_CREDENTIAL:
        return False  # token_type, password_hint: about a credential, not one
    if any(word in _CREDENTIAL_WORDS for word in words):
        return True
    return any(pair == ("api", "key") for pair in itertools.pairwise(words))


def name_words(name: str) -> list[str]:
    """The words of a name, lower-cased: split at anything but a letter or a digit (``_``,
    ``-``, ``.``) and where the case changes (``newPassword``, ``APIKey``)."""
    split = re.sub(r"([a-z0-9])([A-Z])|([A-Z])([A-Z][a-z])", r"\1\3 \2\4", name)
    return re.findall(r"[a-z0-9]+", split.lower())


# The words of a credential's name (``old_password``, ``X-Auth-Token``, ``apikey``).
_CREDENTIAL_WORDS = frozenset(
    {
        "password",
        "passwords",
        "passwd",
        "passphrase",
        "pass",
        "pwd",
        "pw",
        "secret",
        "secrets",
        "token",
        "tokens",
        "credential",
        "credentials",
        "apikey",
        "auth",
        "authorization",
        "authentication",
    }
)
# The last word of a name that tells about a credential, not holds one (``token_type``,
# ``passwordHint``, ``secret_expires_at``): its value is the API's, and a secret equal to it
# there is refused rather than replaced.
_ABOUT_A_CREDENTIAL = frozenset(
    {
        "type",
        "types",
        "hint",
        "expires",
        "expiry",
        "in",
        "at",
        "url",
        "uri",
        "endpoint",
        "policy",
        "length",
        "changed",
        "required",
        "count",
        "kind",
        "name",
        "status",
        "method",
        "methods",
        "id",
    }
)
# The authentication schemes of HTTP (RFC 9110, IANA's registry, and the common ones):
# what follows them in a header is the credentials.
AUTH_SCHEMES = frozenset(
    {"basic", "bearer", "digest", "token", "negotiate", "ntlm", "hoba", "mutual", "dpop"}
)
# The name just before a value inside a string (``password=Koa7``, ``"token": "Koa7"``).
_NAME_BEFORE = re.compile(r"""([\w.-]+)["']?\s*[:=]\s*["']?\Z""")


def _said_before(text: str, start: int) -> bool:
    """Whether the name just before ``text[start:]`` says a credential follows."""
    before = _NAME_BEFORE.search(text[max(0, start - 100) : start])
    return before is not None and says_credential(before.group(1))


# A line of a text, with its end.
_LINE = re.compile(r"[^\n]*\n|[^\n]+")


def _is_json(line: str) -> bool:
    """Whether ``line`` is a JSON object or array (a line of JSON lines)."""
    if line.strip()[:1] not in ("{", "["):
        return False
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def _follow(between: str, names: list[list[str | None]]) -> None:
    """Follow JSON's brackets in ``between`` (the text between two strings): ``names`` holds,
    for each object and array open, the name its values are under."""
    for char in between:
        if char == "{":
            names.append([None])
        elif char == "[":
            names.append([names[-1][0] if names else None])
        elif char in "}]" and names:
            names.pop()


def _spliced(text: str, hits: Sequence[_Hit]) -> str:
    """``text`` with each hit (in order, none overlapping) replaced by its placeholder."""
    pieces, at = [], 0
    for start, end, secret in hits:
        pieces += [text[at:start], secret.placeholder]
        at = end
    return "".join([*pieces, text[at:]])


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


def scanned(data: Any, secrets: list[_Secret], glued_is_a_problem: bool = True) -> list[str]:
    """What a parsed API cassette holds of ``secrets``, read as the replacement reads it."""
    reading = Reading(secrets, replace=False, glued_is_a_problem=glued_is_a_problem)
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
    holds, and where; None: none. ``named``: secrets to call by a name of their own. Read as
    an API cassette's scan reads it (:class:`Reading`, by structure: no piece of a secret is
    looked for, so a password that shares a piece with the URL is no finding), but for the
    words of the grant barapi writes there (``password``, ``Bearer``), and a short secret
    glued into one of them (``application`` in ``application/json``); and, in ``text`` (what
    ``data`` was read from, a comment included), a long secret or a token in any whole form."""
    names = {value: what for what, value in named}
    secrets = [
        replace(secret, what=names.get(secret.value, secret.what)) for secret in secrets_of(known)
    ]
    found = scanned(_vocabulary_set_aside(data), secrets, glued_is_a_problem=False)
    if found:
        return found[0]
    # What the file says besides its data (a comment a serializer wrote): a sure secret, whole.
    rest = without_vocabulary(text)
    for secret in secrets:
        if secret.sure and any(form in rest for form in secret.forms):
            return f"{secret.what} in the file"
    return None


def _vocabulary_set_aside(data: Any) -> Any:
    """``data`` with each word of the grant that stands alone in its strings (and keys) read
    as a placeholder, which a scan passes over."""
    if isinstance(data, str):
        return _VOCABULARY_WORD.sub(MASK, data)
    if isinstance(data, dict):
        return {_vocabulary_set_aside(k): _vocabulary_set_aside(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_vocabulary_set_aside(item) for item in data]
    return data


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
    scan: Callable[[str, Any], str | Failure | None] | None = None,
    beside: dict[str, Any] | None = None,
) -> Kept | Failure:
    """The one pipeline of every cassette before it is kept: serialize (with the top-level
    keys ``beside`` next to vcrpy's, which vcrpy reads past), replace barapi's secrets (an API
    cassette's; a token cassette has none left to replace), scan what is left (with ``scan``,
    else for every secret ``known``), keep or refuse. Never raises."""
    from vcr.serialize import deserialize, serialize

    try:
        text = serialize(cassette_dict, serializer)
    except TypeError as error:
        # vcrpy's json serializer: "Does this HTTP interaction contain binary data? ..."
        return _unchecked(purpose, shown(path), error, binary="binary data" in str(error))
    except Exception as error:
        return _unchecked(purpose, shown(path), error)
    try:
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
            finding: str | Failure | None = found[0] if found else None
        else:
            finding = scan(text, data) if scan is not None else leak(text, data, known)
    except Exception as error:
        return _unchecked(purpose, shown(path), error)
    if isinstance(finding, Failure):  # the scan says itself why
        return Failure((f"refusing to keep the cassette {shown(path)}: ", *finding.what))
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
    if isinstance(finding, Ambiguous):
        return Failure(
            f"refusing to keep the cassette {shown}: it holds {finding}, where nothing says it "
            "is a credential: it may be the API's own data, which barapi does not rewrite; it "
            f"was not written. Record with a test {finding.kind} that is not a value of the "
            "API's data, or keep that secret out of what the test sends and receives there."
        )
    return Failure(
        f"refusing to keep the cassette {shown}: it holds {finding}, where no placeholder can "
        "take its place without changing what is around it; it was not written. Keep that "
        "secret out of what the test sends and receives there."
    )


def _unchecked(purpose: str, shown: str, error: Exception, binary: bool = False) -> Failure:
    if purpose == TOKEN:
        return Failure(f"could not write the cassette {shown} ({type(error).__name__})")
    if binary:
        return Failure(
            f"could not write the cassette {shown}: it holds a body that is not text, which "
            "vcrpy's json serializer cannot write; it was not written. Record this test with "
            'the yaml serializer ("serializer": "yaml" in its vcr_config).'
        )
    return Failure(
        f"could not check the cassette {shown} for barapi's secrets "
        f"({type(error).__name__}); it was not written."
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
