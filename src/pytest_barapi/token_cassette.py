"""The token-exchange cassette: record the exchange once with vcrpy, replay it offline.

pytest-recording cannot record session-scoped fixtures, so this module drives vcrpy itself for
the token exchange, and follows pytest-recording's ``--record-mode`` and ``--disable-recording``
so that one flag controls every cassette of a run. It offers what the broker orchestrates:
:func:`load` and :func:`replay` an identity's cassette, or :func:`recording` what happens inside
a block, keeping the file only if the block got a token; and :func:`apart_from_open_cassettes`,
which keeps the token endpoint's traffic out of the cassette of the test that is running. How
vcrpy reads and writes the file is :mod:`pytest_barapi.cassette_file`'s. vcrpy is imported by
these two only (and by :mod:`pytest_barapi.api_cassettes`), and only once a cassette is used.

A recorded cassette holds no secret (:mod:`pytest_barapi.cassette_guard` says how): a file
that still holds a real value after scrubbing is deleted, and the exchange fails.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pytest_barapi.cassette_file import (
    Persister,
    Recorded,
    serializer_for,
    shown,
    vcr_for,
    vcrpy_silenced,
)
from pytest_barapi.cassette_guard import REQUEST_PLACEHOLDERS, CassetteScan, bare_request
from pytest_barapi.identity import Identity
from pytest_barapi.known_secrets import KnownSecrets
from pytest_barapi.masking import Masker
from pytest_barapi.outcome import Failure, Outcome, Part, Received, Setting
from pytest_barapi.secrets import Secret
from pytest_barapi.settings import Settings
from pytest_barapi.token import BarapiToken

# Not the body: it holds placeholders, and vcrpy's mismatch message would print the live one.
MATCH_ON = ("method", "scheme", "host", "port", "path")
RECORD = "pytest --record-mode=once"
RERECORD = "pytest --record-mode=rewrite"
# pytest-recording's modes that record what is missing and replay the rest.
RECORDS_WHAT_IS_MISSING = ("once", "new_episodes")


def cassette_path(settings: Settings, identity: Identity) -> Path | None:
    """Where the exchange of ``identity`` is recorded, one file per identity; None: no cassette
    (none configured, or ``--disable-recording``: live, the cassette neither read nor written).

    The configured identity uses ``barapi_cassette`` itself. Any other identity (say, from
    ``barapi_session_factory``) uses a sibling file named after a short hash of its user,
    client id and scope, so no identity ever replays another's token. Never a hash of a
    password: a short hash in a committed file name is a password check anyone can run.
    """
    if settings.cassette is None or settings.recording_disabled:
        return None
    configured = settings.cassette
    if identity == settings.identity:
        return configured
    key = json.dumps([identity.user, identity.client_id, identity.scope])
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    return configured.with_name(f"{configured.stem}.{digest}{configured.suffix}")


def records_afresh(settings: Settings) -> bool:
    """Whether the run re-records every cassette (``--record-mode=all`` or ``rewrite``).

    vcrpy has no "rewrite"; for a token cassette both mean: record afresh, never replay.
    """
    return settings.record_mode in ("all", "rewrite")


def needs_a_live_token(settings: Settings, identity: Identity) -> bool:
    """Whether ``identity`` gets a live token although its exchange is recorded: the run
    records what is missing (``--record-mode=once``, ``new_episodes``) and its settings hold
    the credentials (the keyring and the prompt are not asked just to decide this).

    A test added to a recorded suite gets its API cassette recorded in such a run; with the
    replayed placeholder, barapi would answer 401 and that would be recorded. The recorded API
    calls still replay: vcrpy does not match on ``Authorization``. The token cassette is left
    as it is (re-recording it would only churn it).
    """
    return settings.record_mode in RECORDS_WHAT_IS_MISSING and not identity.missing()


def not_recorded(settings: Settings, path: Path) -> Failure | None:
    """Why a cassette that is not there cannot be recorded in this run; None: it can be."""
    if settings.record_mode != "none":
        return None
    return Failure(
        f"no cassette at {shown(path)} to replay (--record-mode=none); record it once "
        f"with credentials set: {RECORD}"
    )


def not_recorded_here(settings: Settings, path: Path) -> Failure:
    """Why a run with workers on other machines does not record: the file would stay there."""
    return Failure(
        f"not recording the cassette {shown(path)} (--record-mode={settings.record_mode}): "
        "this run has pytest-xdist workers that may run on another machine or in another "
        "directory (--tx ssh=, socket=, via= or chdir=), where the cassette would stay. "
        "Record it without them (-n 2, or no xdist), then replay anywhere; no request sent"
    )


def credentials_missing(settings: Settings, path: Path, missing: tuple[Part, ...]) -> Failure:
    """Why recording cannot start: ``missing`` says which settings to set."""
    return Failure(
        (
            f"recording the cassette {shown(path)} (--record-mode={settings.record_mode}) "
            "needs credentials; no request sent: set ",
            *missing,
        )
    )


@contextmanager
def apart_from_open_cassettes() -> Iterator[None]:
    """Keep the block's HTTP traffic out of every vcrpy cassette open in the process.

    While a cassette is open, vcrpy replaces the connection classes of http.client and urllib3
    for the whole process. A grant made during a recorded test (a token renewed, or
    ``barapi_session_factory`` called in its body) would otherwise be recorded into that
    test's cassette, credentials and tokens included, or answered from it, or refused by it
    (``--record-mode=none``). vcrpy's ``force_reset`` puts the real classes back for the block;
    it is how vcrpy itself reaches the server when it records. A token cassette opened inside
    the block patches them again, for itself only.
    """
    if "vcr.patch" not in sys.modules:
        yield  # vcrpy was never imported: no cassette can be open
        return
    from vcr.patch import force_reset

    with force_reset():
        yield


@dataclass
class Recording:
    """What :func:`recording` yields: the block says whether its outcome is worth keeping."""

    path: Path
    _kept: bool = False
    _problem: str | None = None

    def keep(self, outcome: Outcome) -> Outcome:
        """Keep the recording if ``outcome`` is a token (a failed exchange is never saved)."""
        self._kept = isinstance(outcome, BarapiToken)
        return outcome

    def outcome(self, outcome: Outcome) -> Outcome:
        """``outcome``, unless the cassette could not be kept: then why not."""
        return outcome if self._problem is None else Failure(self._problem)


@contextmanager
def recording(
    settings: Settings, identity: Identity, path: Path, known: KnownSecrets
) -> Iterator[Recording]:
    """Record the token endpoint traffic of the block into ``path``, scrubbed and scanned.

    The file is written only if the block called :meth:`Recording.keep` with a token; every
    token the recorded answer carries is added to ``known``.
    """
    scan = CassetteScan(identity, known)
    persister = Persister(scan=scan)
    vcr = vcr_for(
        path,
        record_mode="all",
        match_on=MATCH_ON,
        # An exchange that raises (refused, 5xx, garbage) is never saved.
        record_on_exception=False,
        decode_compressed_response=True,
        filter_post_data_parameters=list(REQUEST_PLACEHOLDERS.items()),
        before_record_request=bare_request,
        before_record_response=scan.scrub_response,
    )
    vcr.register_persister(persister)
    kept = Recording(path)
    try:
        with vcrpy_silenced(), vcr.use_cassette(str(path)):
            yield kept
            if not kept._kept:
                raise _Discarded  # leave vcrpy's block by an exception, so it saves nothing
    except _Discarded:
        pass
    kept._problem = persister.problem


class _Discarded(Exception):
    """The block got no token: leave vcrpy's ``with`` by an exception, so it saves nothing."""


def replay(
    settings: Settings, identity: Identity, path: Path, recorded: Recorded, masker: Masker
) -> Outcome:
    """The token recorded in ``path`` for ``identity``: a placeholder only the recorded API
    calls accept. Needs no credentials, sends nothing, and tries once: a retry could only be
    refused by vcrpy ("already played back"), hiding what the recording holds."""
    from pytest_barapi.exchange import post_grant

    vcr = vcr_for(path, record_mode="none", match_on=MATCH_ON)
    vcr.register_persister(Persister(recorded=recorded))
    # The replay sends what the recording holds: placeholders, never a credential. The token
    # is built as the answer arrives, so its lifetime counts from now: however old the
    # cassette, the replayed token is not born expired (and so not renewed).
    placeholders = identity.overridden(
        user=REQUEST_PLACEHOLDERS["username"],
        password=Secret(REQUEST_PLACEHOLDERS["password"]),
        client_id=REQUEST_PLACEHOLDERS["client_id"],
        client_secret=Secret(REQUEST_PLACEHOLDERS["client_secret"]),
    )
    with vcrpy_silenced(), vcr.use_cassette(str(path)):
        outcome = post_grant(
            settings.token_url,
            placeholders.password_grant(),
            timeout=settings.timeout,
            masker=masker,
            # As recorded, if the ini says so; either way the header is not matched on.
            client_auth=settings.client_auth,
            retries=0,
        )
    return replace(outcome, replayed=True) if isinstance(outcome, BarapiToken) else outcome


def load(settings: Settings, path: Path) -> Recorded | Failure | None:
    """The recorded interactions, checked to hold a token exchange for our URL; None: no file."""
    from vcr import matchers
    from vcr.request import Request
    from vcr.serialize import deserialize

    unreadable = f"cannot replay the cassette {shown(path)}"
    fix = f"; re-record it with credentials set: {RERECORD}"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeError) as error:
        return Failure(f"{unreadable}: unreadable ({type(error).__name__}){fix}")
    if not text.strip():
        return Failure(f"{unreadable}: the file is empty{fix}")
    try:
        requests, responses, *_metadata = deserialize(text, serializer_for(path))
    except Exception as error:
        # The message of a YAML error quotes the file; the line number is enough.
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        reason = f"not a vcrpy cassette ({type(error).__name__}{where})"
        return Failure(f"{unreadable}: {reason}{fix}")
    if not requests:
        return Failure(f"{unreadable}: it holds no recorded exchange{fix}")
    wanted = Request("POST", settings.token_url, b"", {})
    match_on = [getattr(matchers, name) for name in MATCH_ON]
    played = next(
        (
            response
            for request, response in zip(requests, responses, strict=False)
            if matchers.requests_match(wanted, request, match_on)
        ),
        None,
    )
    if played is None:
        recorded = requests[0]
        return Failure(
            (
                f"the cassette {shown(path)} was recorded for ",
                Received(f"{recorded.method} {_without_userinfo(recorded.uri)}"),
                f", not POST {settings.token_url} (",
                Setting("url"),
                f", from {settings.sources['url']}); re-record it for this URL ({RERECORD}), "
                "or set the URL it was recorded for",
            )
        )
    status = _status(played)
    if not (isinstance(status, int) and 200 <= status < 300):
        failed = f"it holds a failed exchange (HTTP {status}), not a token"
        return Failure(f"{unreadable}: {failed}{fix}")
    return list(requests), list(responses)


def _status(response: Any) -> Any:
    status = response.get("status") if isinstance(response, dict) else None
    return status.get("code") if isinstance(status, dict) else None


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"
