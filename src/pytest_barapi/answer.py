"""Judges what the token endpoint answered: the token, or why there is none.

The answer arrives here read whole (:mod:`pytest_barapi.exchange` posted the grant and read it
within the deadline) and leaves as an :data:`~pytest_barapi.outcome.Outcome`. Every failure
names the URL the grant was posted to (the base URL never holds a user or password:
:func:`pytest_barapi.settings.checked_url`). A server on barapi's own host is called barapi,
any other "the token server". A refusal names the settings it concerns
(:class:`~pytest_barapi.outcome.Setting`); whatever it quotes of the answer
(:class:`~pytest_barapi.outcome.Received`) is masked with the run's masker, since a server may
echo the request body, and a token the answer carries becomes a secret of the run.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from pytest_barapi.identity import BODY, NONE
from pytest_barapi.outcome import Failure, Outcome, Part, Received, Setting
from pytest_barapi.settings import server_called
from pytest_barapi.token import BarapiToken

if TYPE_CHECKING:
    import requests

    from pytest_barapi.masking import Masker

EXCERPT = 200
# Where a server puts the reason for a refusal, looked up in this order in its JSON answer, then
# in an object under "error" (one level, no deeper), then in the items of a list under "errors"
# (objects, as GraphQL and JSON:API have them, or strings; the first ERRORS_LOOKED_AT of them):
# RFC 6749 §5.2's error_description; aioauth's description; the message of many frameworks and
# gateways ({"error": {"message": ...}} too); the detail of RFC 9457 and Django REST framework;
# error_message; reason; msg. The first that says something is shown: a string, or a list of
# strings or of such objects (NestJS's "message": ["password should not be empty"], FastAPI's
# "detail": [{"msg": "Field required"}]), joined with "; ". It is masked, on one line, cut at
# REASON characters, with control characters escaped (a server's words never drive the
# terminal).
REASON_KEYS = (
    "error_description",
    "description",
    "message",
    "detail",
    "error_message",
    "reason",
    "msg",
)
REASON = 200
ERRORS_LOOKED_AT = 10
# What to check, by RFC 6749 §5.2 error code.
FIXES = {
    "invalid_grant": ("user", "password"),
    "invalid_client": ("client_id", "client_secret", "client_auth"),
    "unauthorized_client": ("client_id",),
}
# A public client sends no secret: its invalid_client is about the client id, or a server that
# wants a confidential client (another --barapi-client-auth), never a secret it was not sent.
PUBLIC_CLIENT_FIXES = ("client_id", "client_auth")
# invalid_request names no setting, but Authlib answers a wrong password with it ("Invalid
# 'username' or 'password' in request."): a description about those gets invalid_grant's fix.
ABOUT_THE_USER = re.compile(r"\b(?:user ?name|password)\b", re.IGNORECASE)


URL = Setting("url")


def read_answer(
    url: str,
    response: requests.Response,
    content: bytes,
    masker: Masker,
    client_auth: str = BODY,
) -> Outcome:
    """The token in ``content``, the body of ``response`` to a grant whose client
    authenticated as ``client_auth``; or a Failure that says why not."""
    status = f"HTTP {response.status_code}"
    server = server_called(url)
    if 300 <= response.status_code < 400:
        location = response.headers.get("Location")
        to: tuple[Part, ...] = (
            ("redirecting to ", Received(repr(masker.mask(location))))
            if location
            else ("without a Location",)
        )
        return Failure(
            (
                f"{url} answered {status} ",
                *to,
                "; a grant is not sent on to another address: set ",
                URL,
                f" to {server}'s own",
            )
        )
    if response.status_code == 429:
        retry_after = response.headers.get("Retry-After")
        when: tuple[Part, ...] = (
            (", Retry-After: ", Received(_one_line(retry_after, masker))) if retry_after else ()
        )
        return Failure(
            (
                f"{url} answered HTTP 429 Too Many Requests",
                *when,
                f": {server} is rate-limiting token requests; not retried, wait before running "
                "again",
            )
        )
    content_type = response.headers.get("Content-Type", "no content type")
    # Decoded as requests' Response.text would (a BOM stays, and JSON does not take it).
    text = content.decode(response.encoding or "utf-8", errors="replace")
    kind = "not JSON"
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    except RecursionError:  # thousands of [ or { in a row: json reads them one level per call
        body, kind = None, "JSON nested too deep to read"
    if not isinstance(body, dict):
        excerpt = _excerpt(text, masker)
        kind = kind if body is None else "JSON but not an object"
        return Failure(
            (
                f"{url} answered {status} ({content_type}), {kind}: ",
                Received(repr(excerpt)),
                "; check ",
                URL,
            )
        )
    if 400 <= response.status_code < 500:
        return Failure(_refusal(url, status, body, masker, client_auth), refused=True)
    if response.status_code != 200:
        return Failure(_refusal(url, status, body, masker, client_auth))
    if not body.get("access_token") and _code(body):
        # Some servers answer a refusal with 200 ("Account locked." under an error code): the
        # server saw the grant and said no, as with a 4xx.
        return Failure(_refusal(url, status, body, masker, client_auth), refused=True)
    return _token(url, body, masker)


def _code(body: dict[str, Any]) -> str | None:
    """The OAuth error code: RFC 6749 §5.2's ``error``, or, from a server that nests its error
    in an object, that object's ``code`` ({"error": {"code": "invalid_grant", ...}})."""
    error = body.get("error")
    if isinstance(error, dict):
        error = error.get("code")
    return error if isinstance(error, str) and error.strip() else None


def _refusal(
    url: str, status: str, body: dict[str, Any], masker: Masker, client_auth: str
) -> tuple[Part, ...]:
    error = _code(body)
    reason = _reason(body, masker)
    if error is None:
        without = f"{url} answered {status} without an OAuth error code"
        if reason:
            return (without, *_in_brackets(reason))
        return (f"{without}: ", Received(_excerpt(str(body), masker)))
    return (
        f"the token endpoint {url} refused the grant: ",
        Received(_one_line(error, masker)),
        *_in_brackets(reason),
        f", {status}",
        *_advice(error, reason, client_auth),
    )


def _advice(error: str, reason: str | None, client_auth: str) -> list[Part]:
    if error == "invalid_scope":
        # barapi documents an empty scope, which other servers may refuse (django-oauth-toolkit).
        return ["; set ", Setting("scope", ini=True), " to the scopes the server grants"]
    advice: list[Part] = []
    for name in _fixes(error, reason, client_auth):
        advice += [", " if advice else "; check ", Setting(name)]
    return advice


def _reason(body: dict[str, Any], masker: Masker) -> str | None:
    """The reason the server gives, from the first of :data:`REASON_KEYS` that holds one."""
    errors = body.get("errors")
    listed = errors[:ERRORS_LOOKED_AT] if isinstance(errors, list) else []
    # A string under "error" is the error code; a string under "errors" is a reason.
    for place in (body, body.get("error"), *listed):
        said = place if isinstance(place, str) and place is not body.get("error") else None
        said = said or _said_in(place, nested=True)
        if said:
            return _one_line(said, masker)
    return None


def _said_in(place: Any, nested: bool) -> str | None:
    """What an object says under the first of :data:`REASON_KEYS` that says something: a
    string, or (``nested``) a list of strings or of such objects, joined."""
    if not isinstance(place, dict):
        return None
    for key in REASON_KEYS:
        value = place.get(key)
        if isinstance(value, str) and value.strip():
            return value
        if nested and isinstance(value, list):
            items = [
                item if isinstance(item, str) else _said_in(item, nested=False)
                for item in value[:ERRORS_LOOKED_AT]
            ]
            joined = "; ".join(item for item in items if item and item.strip())
            if joined:
                return joined
    return None


def _in_brackets(reason: str | None) -> tuple[Part, ...]:
    """The server's reason as a message quotes it after what happened: `` (reason)``."""
    return (" (", Received(reason), ")") if reason else ()


def _one_line(text: str, masker: Masker) -> str:
    """A server's words for a one-line message: masked, whitespace runs made one space,
    control characters escaped (``\\x1b``), at most :data:`REASON` characters."""
    # Masked first, cut after: a cut can leave the head of a secret no mask would match.
    words = " ".join(masker.mask(text).split())
    # Escaped after masking too: the masker reads the text as the server sent it.
    words = "".join(char if char.isprintable() else repr(char)[1:-1] for char in words)
    return words if len(words) <= REASON else words[: REASON - 3] + "..."


def _fixes(error: str, reason: str | None, client_auth: str) -> tuple[str, ...]:
    """The settings to check for an error code, by RFC 6749 §5.2 first."""
    if error == "invalid_client" and client_auth == NONE:
        return PUBLIC_CLIENT_FIXES
    if error in FIXES:
        return FIXES[error]
    if error == "invalid_request" and ABOUT_THE_USER.search(reason or ""):
        return FIXES["invalid_grant"]
    return ()


def _token(url: str, body: dict[str, Any], masker: Masker) -> Outcome:
    for name in ("access_token", "token_type"):
        if not isinstance(body.get(name), str) or not body[name]:
            without = f"{url} answered HTTP 200 without {name!r} in its JSON"
            # The server's words for why there is no token ("Account locked."), if it gives any.
            return Failure((without, *_in_brackets(_reason(body, masker))))
    if body["token_type"].lower() != "bearer":
        uses = (
            "barapi uses Bearer"
            if server_called(url) == "barapi"
            else "pytest-barapi uses Bearer tokens only (RFC 6750)"
        )
        token_type = Received(repr(_one_line(body["token_type"], masker)))
        return Failure((f"{url} issued a ", token_type, f" token; {uses}"))
    expires_in = body.get("expires_in")
    if expires_in is not None:
        try:
            expires_in = int(expires_in)
        except (TypeError, ValueError, OverflowError):
            return Failure(f"{url} answered a non-integer expires_in")
    refresh = body.get("refresh_token")
    scope = body.get("scope")
    return BarapiToken(
        access_token=body["access_token"],
        token_type=body["token_type"],
        expires_in=expires_in,
        refresh_token=refresh if isinstance(refresh, str) else None,
        scope=scope if isinstance(scope, str) else None,
    )


def _excerpt(text: str, masker: Masker) -> str:
    """The head of an answer for a message, every secret in it masked."""
    # A token in an answer we do not accept is still a live token: the excerpt must not show it.
    masker.known.know_carried(text)
    # Masked first, cut after: a cut can leave the head of a secret no mask would match.
    return masker.mask(text)[:EXCERPT]
