"""Judges what the token endpoint answered: the token, or why there is none.

The answer arrives here read whole (:mod:`pytest_barapi.exchange` posted the grant and read it
within the deadline) and leaves as an :data:`~pytest_barapi.outcome.Outcome`. A refusal names
the settings it concerns (:class:`~pytest_barapi.outcome.Setting`); whatever it quotes of the
answer (:class:`~pytest_barapi.outcome.Received`) is masked with the run's masker, since a
server may echo the request body, and a token the answer carries becomes a secret of the
run.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from pytest_barapi.outcome import Failure, Outcome, Part, Received, Setting
from pytest_barapi.token import BarapiToken

if TYPE_CHECKING:
    import requests

    from pytest_barapi.masking import Masker

EXCERPT = 200
# What to check, by RFC 6749 §5.2 error code.
FIXES = {
    "invalid_grant": ("user", "password"),
    "invalid_client": ("client_id", "client_secret", "client_auth"),
    "unauthorized_client": ("client_id",),
    "invalid_scope": ("scope",),
}
# invalid_request names no setting, but Authlib answers a wrong password with it ("Invalid
# 'username' or 'password' in request."): a description about those gets invalid_grant's fix.
ABOUT_THE_USER = re.compile(r"\b(?:user ?name|password)\b", re.IGNORECASE)


URL = Setting("url")


def read_answer(url: str, response: requests.Response, content: bytes, masker: Masker) -> Outcome:
    """The token in ``content``, the body of ``response``; or a Failure that says why not."""
    status = f"HTTP {response.status_code}"
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
                " to barapi's own",
            )
        )
    if response.status_code == 429:
        retry_after = response.headers.get("Retry-After")
        when: tuple[Part, ...] = (
            (", Retry-After: ", Received(masker.mask(retry_after))) if retry_after else ()
        )
        return Failure(
            (
                f"{url} answered HTTP 429 Too Many Requests",
                *when,
                ": barapi is rate-limiting token requests; not retried, wait before running again",
            )
        )
    content_type = response.headers.get("Content-Type", "no content type")
    # Decoded as requests' Response.text would (a BOM stays, and JSON does not take it).
    text = content.decode(response.encoding or "utf-8", errors="replace")
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        excerpt = _excerpt(text, masker)
        kind = "not JSON" if body is None else "JSON but not an object"
        return Failure(
            (
                f"{url} answered {status} ({content_type}), {kind}: ",
                Received(repr(excerpt)),
                "; check ",
                URL,
            )
        )
    if 400 <= response.status_code < 500:
        return Failure(_refusal(url, status, body, masker), refused=True)
    if response.status_code != 200:
        return Failure(_refusal(url, status, body, masker))
    return _token(url, body)


def _refusal(url: str, status: str, body: dict[str, Any], masker: Masker) -> tuple[Part, ...]:
    error = body.get("error")
    if not isinstance(error, str):
        excerpt = _excerpt(str(body), masker)
        return (f"{url} answered {status} without an OAuth error code: ", Received(excerpt))
    description = body.get("error_description")
    detail: tuple[Part, ...] = (
        (" (", Received(masker.mask(str(description))), ")") if description else ()
    )
    advice: list[Part] = []
    for name in _fixes(error, description):
        advice += [", " if advice else "; check ", Setting(name)]
    return (
        "the token endpoint refused the grant: ",
        Received(error),
        *detail,
        f", {status}",
        *advice,
    )


def _fixes(error: str, description: object) -> tuple[str, ...]:
    """The settings to check for an error code, by RFC 6749 §5.2 first."""
    if error in FIXES:
        return FIXES[error]
    if error == "invalid_request" and ABOUT_THE_USER.search(str(description or "")):
        return FIXES["invalid_grant"]
    return ()


def _token(url: str, body: dict[str, Any]) -> Outcome:
    for name in ("access_token", "token_type"):
        if not isinstance(body.get(name), str) or not body[name]:
            return Failure(f"{url} answered HTTP 200 without {name!r} in its JSON")
    if body["token_type"].lower() != "bearer":
        return Failure(f"{url} issued a {body['token_type']!r} token; barapi uses Bearer")
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
