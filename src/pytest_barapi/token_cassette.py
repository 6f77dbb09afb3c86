"""The token-exchange cassette: record the exchange once with vcrpy, replay it offline.

pytest-recording cannot record session-scoped fixtures, so this module drives vcrpy itself for
the token exchange, and follows pytest-recording's ``--record-mode`` and ``--disable-recording``
so that one flag controls every cassette of a run. It offers what the broker orchestrates:
:func:`load` an identity's cassette and :func:`replaying` it (the broker sends the recorded
grant through the exchange), or :func:`recording` what happens inside a block, keeping the file
only if the block got a token; and :func:`apart_from_open_cassettes`, which keeps the token
endpoint's traffic out of the cassette of the test that is running. vcrpy is imported only
once a cassette is used.

A token cassette keeps only what its replay needs: the grant with placeholders for the
credentials, and the answer's status, content type and token fields, the tokens replaced by
placeholders, keys sorted (:class:`CassetteScan` holds the recording's hooks); and, beside
them, who it was recorded for (:func:`recorded_for`), so that a replay for another user, client
id or scope says so rather than hand over another identity's token. The file is
written only once :func:`~pytest_barapi.cassette_guard.guarded` let it through, next to its
final place and moved there, so no reader ever sees half a cassette: a file that still holds
a real value after scrubbing is not kept, and the exchange fails. While a cassette is open,
vcrpy's own logging is shut: it would log each answer before the scrub, tokens included."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pytest_barapi.cassette_guard import (
    REQUEST_PLACEHOLDERS,
    RESPONSE_PLACEHOLDERS,
    TOKEN,
    TOKEN_FIELDS,
    guarded,
    leak,
    shown,
    strings,
    without_vocabulary,
)
from pytest_barapi.identity import Identity
from pytest_barapi.known_secrets import KnownSecrets, masker_of
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

    The configured identity uses ``barapi_cassette`` itself, whoever it is: its replay
    checks who the file was recorded for (:func:`load`). Any other identity (say, from
    ``barapi_session_factory``) uses a sibling file named after a short hash of its user,
    client id and scope. Never a hash of a password: a short hash in a committed file is a
    password check anyone can run.
    """
    configured = settings.cassette
    if configured is None or not settings.uses_cassettes:
        return None
    if identity == settings.identity:
        return configured
    key = json.dumps([identity.user, identity.client_id, identity.scope])
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    return configured.with_name(f"{configured.stem}.{digest}{configured.suffix}")


# The top-level key of a token cassette that says who it was recorded for, and by what.
RECORDED_FOR = "barapi_recorded_for"
IDENTIFIERS = ("user", "client_id", "scope")
# How a message names each setting the recording was made for.
NAMED = {
    "url": "URL",
    "token_path": "token path",
    "user": "user",
    "client_id": "client id",
    "scope": "scope",
}


def recorded_for(identity: Identity) -> dict[str, str]:
    """Who a token cassette is recorded for: a short hash of each of the user, client id and
    scope. Enough to tell another identity; the user name and client id stay out of the
    committed file, as its grant's placeholders keep them out. Never the password or secret."""
    return {name: _fingerprint(name, getattr(identity, name)) for name in IDENTIFIERS}


def _fingerprint(name: str, value: str | None) -> str:
    return hashlib.sha256(json.dumps([name, value or ""]).encode()).hexdigest()[:10]


def _other_identity(settings: Settings, identity: Identity, recorded: Any) -> list[str]:
    """The settings among the user, client id and scope that this run gives (a replay needs
    none: one left unset is not compared) and that differ from the recording's."""
    if not isinstance(recorded, dict):
        return []  # recorded before the cassette said who for: nothing to compare
    differ = []
    for name in IDENTIFIERS:
        given = name in identity.given or settings.sources.get(name, "default") != "default"
        if not given or name not in recorded:
            continue
        if recorded[name] != _fingerprint(name, getattr(identity, name)):
            differ.append(name)
    return differ


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


def not_played(
    settings: Settings, path: Path, missing: tuple[Part, ...], recording_loaded: bool = True
) -> Failure:
    """Why a request no cassette plays cannot leave with the token replayed from ``path``
    (barapi would reject its placeholder), and what to do in this run's record mode: record
    it, or give ``missing``. ``recording_loaded`` is False under ``-p no:recording``."""
    why = (
        "a request that no cassette plays needs a live token, and the token is replayed "
        f"from {shown(path)}; no request sent: "
    )
    if not recording_loaded:
        # Nothing records in this run, and --record-mode is not an option: only a live token.
        return Failure(
            (
                f"{why}set ",
                *missing,
                " (pytest-recording is not loaded, -p no:recording, so no cassette plays a "
                "test's requests)",
            )
        )
    if settings.record_mode != "none":
        # The run records: a test marked vcr whose cassette lacks the request records it,
        # which needs the credentials as much as a live request does.
        return Failure(
            (
                f"{why}set ",
                *missing,
                f" (recording it under --record-mode={settings.record_mode} needs them too)",
            )
        )
    return Failure(
        (
            f"{why}record the test with @pytest.mark.vcr and {RECORD} (a request your "
            "vcr_config leaves out of cassettes is never played), or set ",
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
    _problem: Failure | None = None

    def keep(self, outcome: Outcome) -> Outcome:
        """Keep the recording if ``outcome`` is a token (a failed exchange is never saved)."""
        self._kept = isinstance(outcome, BarapiToken)
        return outcome

    def outcome(self, outcome: Outcome) -> Outcome:
        """``outcome``, unless the cassette could not be kept: then why not."""
        return outcome if self._problem is None else self._problem


@contextmanager
def recording(
    settings: Settings, identity: Identity, path: Path, known: KnownSecrets
) -> Iterator[Recording]:
    """Record the token endpoint traffic of the block into ``path``, scrubbed and scanned.

    The file is written only if the block called :meth:`Recording.keep` with a token; every
    token the recorded answer carries is added to ``known``.
    """
    scan = CassetteScan(identity, known)
    persister = Persister(scan=scan, known=known, recorded_for=recorded_for(identity))
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


@contextmanager
def replaying(path: Path, recorded: Recorded) -> Iterator[None]:
    """Answer the block's grant from the exchange ``recorded`` in ``path``; send nothing."""
    vcr = vcr_for(path, record_mode="none", match_on=MATCH_ON)
    vcr.register_persister(Persister(recorded=recorded))
    with vcrpy_silenced(), vcr.use_cassette(str(path)):
        yield


def placeholders_of(identity: Identity) -> Identity:
    """``identity`` with the placeholders a recording holds in place of its credentials: what
    a replay sends, never a credential."""
    return identity.overridden(
        user=REQUEST_PLACEHOLDERS["username"],
        password=Secret(REQUEST_PLACEHOLDERS["password"]),
        client_id=REQUEST_PLACEHOLDERS["client_id"],
        client_secret=Secret(REQUEST_PLACEHOLDERS["client_secret"]),
    )


def load(settings: Settings, path: Path, identity: Identity) -> Recorded | Failure | None:
    """The recorded interactions, checked to hold a token exchange for our URL and for
    ``identity`` (as far as this run gives its user, client id and scope); None: no file."""
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
    whole = serializer_for(path).deserialize(text)
    recorded = whole.get(RECORDED_FOR) if isinstance(whole, dict) else None
    others = _other_identity(settings, identity, recorded)
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
        return _recorded_elsewhere(settings, identity, path, requests[0], others)
    status = _status(played)
    if not (isinstance(status, int) and 200 <= status < 300):
        failed = f"it holds a failed exchange (HTTP {status}), not a token"
        return Failure(f"{unreadable}: {failed}{fix}")
    if others:
        return _recorded_elsewhere(settings, identity, path, None, others)
    return list(requests), list(responses)


Recorded = tuple[list[Any], list[Any]]


def _recorded_elsewhere(
    settings: Settings, identity: Identity, path: Path, recorded: Any, others: list[str]
) -> Failure:
    """Why ``path`` does not replay for this run, naming each setting that differs from the
    recording: the URL or the token path (``recorded``, the request at another endpoint,
    None if it is this one), and the user, client id and scope in ``others``."""
    differ: list[str] = []
    lead: list[Part] = []
    either = False  # the URL or the token path: the recording cannot tell which changed
    if recorded is not None:
        url = _without_userinfo(recorded.uri)
        same_url = url != settings.token_url and url.startswith(settings.url + "/")
        same_path = url.endswith(settings.token_path)
        differ += ["url", "token_path"] if same_url == same_path else []
        differ += ["token_path"] if same_url and not same_path else []
        differ += ["url"] if same_path and not same_url else []
        lead += [Received(f"{recorded.method} {url}"), f", not POST {settings.token_url}"]
        if same_url and same_path:
            # http://host/api/oauth/token is the URL http://host/api with this token path as
            # much as this URL with the token path /api/oauth/token: name both, with values.
            either = True
            lead += [
                ": for the URL ",
                Received(url.removesuffix(settings.token_path)),
                ", or the token path ",
                Received(url.removeprefix(settings.url)),
            ]
        if others:
            lead.append(f", and for another {_listed(others)}")
    else:
        lead.append(f"another {_listed(others)}")
    differ += others
    settings_named: list[Part] = []
    for name in differ:
        if settings_named:
            settings_named.append("; ")
        settings_named.append(Setting(name))
        if name not in identity.given:  # else named as the factory's argument
            settings_named.append(f", from {settings.sources[name]}")
    these = "URL or token path" if either and not others else _listed(differ)
    return Failure(
        (
            f"the cassette {shown(path)} was recorded for ",
            *lead,
            " (",
            *settings_named,
            f"); re-record it for this {these} ({RERECORD}), or set the {these} it was "
            "recorded for",
        )
    )


def _listed(names: list[str]) -> str:
    """``names`` as a message lists them: "URL", "URL and token path", "user, client id and
    scope"."""
    named = [NAMED[name] for name in names]
    return named[0] if len(named) == 1 else f"{', '.join(named[:-1])} and {named[-1]}"


def vcr_for(path: Path, **options: Any) -> Any:
    """A vcrpy ``VCR`` with ``options`` that writes ``path`` in the format its suffix names."""
    import vcr

    return vcr.VCR(serializer="json" if path.suffix == ".json" else "yaml", **options)


def serializer_for(path: Path) -> Any:
    """The vcrpy serializer that reads ``path``, by the same rule as :func:`vcr_for`."""
    from vcr.serializers import jsonserializer, yamlserializer

    return jsonserializer if path.suffix == ".json" else yamlserializer


@contextmanager
def vcrpy_silenced() -> Iterator[None]:
    """vcrpy logs each response it records at INFO as it arrived, before our scrub: the tokens."""
    names = [n for n in list(logging.root.manager.loggerDict) if n.split(".")[0] == "vcr"]
    loggers = [logging.getLogger(name) for name in names]
    disabled = [logger.disabled for logger in loggers]
    for logger in loggers:
        logger.disabled = True
    try:
        yield
    finally:
        for logger, was in zip(loggers, disabled, strict=True):
            logger.disabled = was


@dataclass
class Persister:
    """vcrpy's persister for one exchange: loads what :func:`load` checked, writes what
    :func:`~pytest_barapi.cassette_guard.guarded` let through, atomically.

    A recording starts empty (``recorded`` None): re-recording replaces, it never appends. The
    file is written next to its final place and moved there with ``os.replace``, so a reader,
    or another xdist worker recording at the same time, only ever sees a whole cassette.

    Saving never raises: vcrpy saves on leaving the cassette, and an exception there would
    skip its unpatching and leave every later request of the run going through this cassette.
    What went wrong is kept in ``problem`` instead. What is written is what the guard let
    through, byte for byte.
    """

    recorded: Recorded | None = None
    scan: CassetteScan | None = None
    known: KnownSecrets | None = None
    # Written beside the interactions: who the recording is for (see recorded_for).
    recorded_for: dict[str, str] | None = None
    problem: Failure | None = None

    def load_cassette(self, cassette_path: str, serializer: Any) -> Recorded:
        from vcr.persisters.filesystem import CassetteNotFoundError

        if self.recorded is None:
            raise CassetteNotFoundError()
        return self.recorded

    def save_cassette(self, cassette_path: str, cassette_dict: Any, serializer: Any) -> None:
        path = Path(cassette_path)
        if self.scan is None or self.known is None:
            self.problem = Failure(f"could not write the cassette {shown(path)} (RuntimeError)")
            return  # a replay never saves
        temporary = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            kept = guarded(
                cassette_dict,
                serializer,
                path,
                self.known,
                purpose=TOKEN,
                scan=self.scan.leak,
                beside={RECORDED_FOR: self.recorded_for} if self.recorded_for else None,
            )
            if isinstance(kept, Failure):
                self.problem = kept
                return
            fd, temporary = tempfile.mkstemp(
                dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
            )
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write(kept.text)
            os.chmod(temporary, 0o644)  # a cassette is meant to be committed and shared
            os.replace(temporary, path)
            temporary = None
        except OSError as error:
            reason = error.strerror or type(error).__name__
            self.problem = Failure(f"could not write the cassette {shown(path)}: {reason}")
        finally:
            if temporary is not None:
                Path(temporary).unlink(missing_ok=True)


def _status(response: Any) -> Any:
    status = response.get("status") if isinstance(response, dict) else None
    return status.get("code") if isinstance(status, dict) else None


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


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

    def leak(self, text: str, data: Any) -> str | Failure | None:
        """What the written file (``text``, parsed as ``data``) still holds, and where; or,
        where a secret is a scope of the grant, why no cassette can hide it."""
        named = [
            ("the password", self.identity.password),
            ("the client secret", self.identity.client_secret),
        ]
        secrets = [(what, s.reveal()) for what, s in named if s]
        finding = leak(text, data, self.known, secrets)
        if finding is not None:
            return self._scope(secrets) or finding
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
                    for where, string in strings(request.get(part), f"request/{part}"):
                        if masker.reveals(without_vocabulary(string)):
                            return f"{what} at {where}"
        return None

    def _scope(self, secrets: list[tuple[str, str]]) -> Failure | None:
        """Why a secret that is a scope of the grant cannot be kept out: the cassette holds
        the scope as it is (a replay sends it), so it would show the secret. The user's
        setting, not barapi's bug."""
        scopes = (self.identity.scope or "").split()
        for what, value in secrets:
            if value in scopes:
                kind = what.removeprefix("the ")
                return Failure(
                    (
                        f"{what} is the same text as a scope the grant asks for (",
                        Setting("scope"),
                        "), which the token cassette holds as it is, so it would show the "
                        f"{kind}; it was not written, and a cassette there before is kept as "
                        f"it was. Record with a {kind} that is not one of the scopes.",
                    )
                )
        return None


def bare_request(request: Any) -> Any:
    """vcrpy's before_record_request for a token cassette: no header (replay matches on
    method and URL; a User-Agent would change with every version of requests)."""
    request.headers = {}
    return request


def _header(headers: dict[str, Any], name: str) -> Any:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None
