"""The cassette of the run: what ``barapi_session`` sends outside any test's cassette.

pytest-recording's cassettes belong to a test (its issue #76): a session-scoped fixture that
calls the API (creating a project for the run, reading ``/v1/me`` once) is never recorded, and
an offline replay would send its requests with the replayed placeholder. Such a request goes
through this cassette instead: one file per identity, next to that identity's token cassette
and named like it (``barapi.yaml`` -> ``barapi.run.yaml``), recorded and replayed by vcrpy
under the run's ``--record-mode`` (``--disable-recording``: no token cassette, so none of this).
It is opened for each such request (a cassette open for the whole run would patch every
connection of the process, the tests' included), and carries on from one opening to the next
as one test's cassette would: a replay plays each recorded request once, in order, and a run
that records sends every request it records (only what the file held before is played).
Each fixture plays what it recorded (the file lists which fixture sent each request), whatever
order the tests run in. The user's ``vcr_config`` applies to it as to the tests' cassettes
(its filters and ``before_record_*`` hooks above all), but for what this cassette must decide
itself (:data:`OWNED`). Each file passes :func:`~pytest_barapi.cassette_guard.guarded` before it is
written, like every API cassette: barapi's secrets out, the rest scanned.

Under pytest-xdist it is replayed, never recorded: two workers would each write the file with
only their own requests in it; a record mode that starts it over is refused there rather than
answered from the last recording.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_barapi.cassette_guard import API, guarded, shown
from pytest_barapi.known_secrets import KnownSecrets
from pytest_barapi.outcome import Failure
from pytest_barapi.token_cassette import vcr_for, vcrpy_silenced

# The way out each refusal names besides recording: a run that uses no cassette at all (a
# live test beside a fixture the cassette of the run replays gets the recording's answers).
LIVE = ", or send every request live: pytest --disable-recording"
# pytest-recording's modes that start the cassette over: vcrpy's ``all`` would append each
# run's requests to the last run's, and vcrpy has no ``rewrite``.
STARTS_OVER = ("all", "rewrite")
# The vcr_config options the cassette of the run decides itself: where and how it is stored
# (beside the token cassette, through the guard), which run's flags it follows, that it
# plays each recording once and keeps what this run did not send, and decoded bodies, for
# the guard to see a secret in them.
OWNED = frozenset(
    {
        "path",
        "path_transformer",
        "func_path_generator",
        "cassette_library_dir",
        "serializer",
        "persister",
        "record_mode",
        "allow_playback_repeats",
        "drop_unused_requests",
        "decode_compressed_response",
        "inject_cassette",
    }
)


def path_of(token_cassette: Path) -> Path:
    """The cassette of the run beside ``token_cassette``: ``<stem>.run<suffix>``."""
    return token_cassette.with_name(f"{token_cassette.stem}.run{token_cassette.suffix}")


@dataclass
class RunCassettes:
    """The run's cassettes of the run, one per path, opened one request at a time.

    ``record_mode`` is pytest-recording's; ``may_record`` is False under pytest-xdist.
    """

    record_mode: str
    may_record: bool
    known: KnownSecrets
    # Each cassette as the run's last request left it (what it holds, what was played): the
    # next request carries on from there, as in one test's cassette, instead of loading the
    # file again, which would take what the run recorded for the run's own recording to play.
    _kept: dict[Path, Any] = field(default_factory=dict)
    # Each cassette's bytes when the run first opened it (None: no file): each request saves
    # the file, so a refusal at the second puts back what the first overwrote.
    _before: dict[Path, bytes | None] = field(default_factory=dict)
    # The cassettes the guard refused this run: the refusal put the file back as the run
    # found it, and a later request recording there would save over it again.
    _refused: set[Path] = field(default_factory=set)

    @contextmanager
    def around(
        self,
        path: Path,
        request: str,
        vcr_config: dict[str, Any] | None = None,
        configure: Callable[[Any], None] | None = None,
        sent_by: str = "",
    ) -> Iterator[None]:
        """Play or record the block's requests in the cassette of the run at ``path``, under
        the user's ``vcr_config`` but for the options in :data:`OWNED`, as requests of the
        fixture ``sent_by`` names: each plays only what that fixture's requests recorded.

        A request it can neither play nor record raises :class:`NotRecorded`; a recording it
        refuses to keep raises :class:`NotKept` after the block.
        """
        from vcr.cassette import CassetteContextDecorator
        from vcr.errors import CannotOverwriteExistingCassetteException

        if path in self._refused:
            raise NotRecorded(self._refused_earlier(path, request))
        if path not in self._before:
            self._before[path] = path.read_bytes() if path.is_file() else None
        if not self.may_record and self.record_mode in STARTS_OVER:
            # Replaying the last recording where the user asked for a new one would hand the
            # tests stale answers (and their cassettes would record those), in silence.
            raise NotRecorded(self._not_rerecorded(path, request))
        persister = _Persister(
            self, starts_over=self.may_record and self.record_mode in STARTS_OVER
        )
        vcr = vcr_for(path, record_mode=self._vcr_mode(), decode_compressed_response=True)
        if configure is not None:
            configure(vcr)  # the user's matchers and the like, as pytest-recording's VCR has
        vcr.register_persister(persister)
        users = {k: v for k, v in (vcr_config or {}).items() if k not in OWNED}
        # Never a repeat: a fixture that polls until an answer changes gets each recorded
        # answer in turn, as in a test's cassette under pytest-recording's defaults.
        config = vcr.get_merged_config(path=str(path), allow_playback_repeats=False, **users)
        # Each fixture plays its own recordings, whatever order the tests run in (another
        # worker, pytest-randomly): two fixtures that create a project each get their own.
        users_hook = config["before_record_request"]
        config["before_record_request"] = lambda asked: _sent_by(users_hook(asked), sent_by)
        config["match_on"] = (*config["match_on"], _same_sender)
        opener = _Opener(self._kept.get(path))
        cassette = CassetteContextDecorator.from_args(opener, **config)
        try:
            with vcrpy_silenced(), cassette:
                yield
        except CannotOverwriteExistingCassetteException:
            raise NotRecorded(self._not_recorded(path, request)) from None
        finally:
            self._kept[path] = opener.opened
        if persister.problem is not None:
            if persister.refused:
                # The file is as the refusal says (back as it was, or removed): the run's
                # later requests send nothing rather than write there again.
                self._refused.add(path)
                del self._kept[path]
            raise NotKept(persister.problem)

    def put_back(self, path: Path) -> str:
        """The file at ``path`` as it was when the run first opened it (an earlier request of
        the run may have saved over it); what the refusal says of it, as for a test's cassette."""
        from pytest_barapi.cassette_guard import write_whole

        before = self._before.get(path)
        try:
            if before is None:
                if not path.exists():
                    return " It had no cassette before."
                path.unlink()
                return " It had no cassette before; what this run wrote there is removed."
            if path.is_file() and path.read_bytes() == before:
                return " The cassette it had before is kept as it was."
            write_whole(path, before)
        except OSError as error:
            reason = error.strerror or type(error).__name__
            return f" The cassette it had before could not be put back: {reason}."
        return " The cassette it had before is back as it was."

    def _vcr_mode(self) -> str:
        if not self.may_record:
            return "none"
        # Started over (the file is not loaded): vcrpy's new_episodes records every request.
        return "new_episodes" if self.record_mode in STARTS_OVER else self.record_mode

    def _not_rerecorded(self, path: Path, request: str) -> Failure:
        return Failure(
            f"not recording the cassette of the run {shown(path)} "
            f"(--record-mode={self.record_mode}): pytest-xdist workers do not record it (each "
            "would write its own requests only), nor replay the last recording where you ask "
            f"for a new one; {request}, sent outside any test's cassette (a session-scoped "
            "fixture, say), is not sent: record it once without -n (pytest "
            f"--record-mode={self.record_mode}), then replay with -n{LIVE}"
        )

    def _refused_earlier(self, path: Path, request: str) -> Failure:
        return Failure(
            f"{request}, sent outside any test's cassette (a session-scoped fixture, say), is "
            f"not sent: the cassette of the run {shown(path)} was refused earlier in this run "
            "(the refusal above says why), and the run records nothing more into it: fix what "
            "the refusal names, then record again: pytest "
            f"--record-mode={self.record_mode}{LIVE}"
        )

    def _not_recorded(self, path: Path, request: str) -> Failure:
        where = f"{request}, sent outside any test's cassette (a session-scoped fixture, say),"
        if not self.may_record and self.record_mode != "none":
            return Failure(
                f"{where} is not in the cassette of the run {shown(path)}, and pytest-xdist "
                "workers do not record it (each would write its own requests only); no request "
                f"sent: record it once without -n (pytest --record-mode={self.record_mode}), "
                f"then replay with -n{LIVE}"
            )
        mode = "new_episodes" if path.exists() else "once"
        return Failure(
            f"{where} is not in the cassette of the run {shown(path)} "
            f"(--record-mode={self.record_mode}); no request sent: record it (with the "
            f"credentials set, which recording needs): pytest --record-mode={mode}{LIVE}"
        )


# The top-level key of a cassette of the run that lists which fixture sent each interaction
# (vcrpy reads past it), and the attribute of vcrpy's request that carries it meanwhile.
SENT_BY = "barapi_sent_by"


def _sent_by(request: Any, fixture: str) -> Any:
    """``request``, after the user's ``before_record_request``, tagged with the fixture that
    sends it; one read from the file keeps its own tag."""
    if request is not None and not hasattr(request, SENT_BY):
        setattr(request, SENT_BY, fixture)
    return request


def _same_sender(r1: Any, r2: Any) -> None:
    """vcrpy's matcher: both sent by one fixture (a recording that names none matches any)."""
    one, other = getattr(r1, SENT_BY, None), getattr(r2, SENT_BY, None)
    assert one is None or other is None or one == other, f"sent by {one}, not {other}"


# What a cassette holds and has played, carried from one request's opening to the next; the
# names after the first three are vcrpy's own (those a version has are carried).
CARRIED = (
    "data",
    "play_counts",
    "rewound",
    "_old_interactions",
    "_played_interactions",
    "_loaded_count",
    "_metadata",
)


@dataclass
class _Opener:
    """What vcrpy's context manager loads a cassette with: the file at the run's first request
    for it, then the cassette as the run's last request left it (``previous``), under this
    request's options. ``opened``: the cassette it gave."""

    previous: Any
    opened: Any = None

    def load(self, **options: Any) -> Any:
        cassette = _cassette_class()(**options)
        if self.previous is None:
            cassette._load()  # vcrpy's own loading, through the persister
            cassette.rewind()  # what the file holds is there to play: appended, not played
        else:
            carried = vars(self.previous)
            vars(cassette).update({name: carried[name] for name in CARRIED if name in carried})
        self.opened = cassette
        return cassette


@functools.cache
def _cassette_class() -> Any:
    """vcrpy's cassette, but a request it records is never played back to the run: a recording
    run sends every request it records (two fixtures that each create a project get two)."""
    from vcr.cassette import Cassette

    class RunCassette(Cassette):  # type: ignore[misc]
        def append(self, request: Any, response: Any) -> None:
            before = len(self.data)
            super().append(request, response)
            for index in range(before, len(self.data)):
                self.play_counts[index] += 1  # as if played: vcrpy plays each once

    return RunCassette


class NotRecorded(Exception):
    """A request the cassette of the run neither plays nor records: ``args[0]`` says why."""


class NotKept(Exception):
    """A recording of the run the guard refused to keep: ``args[0]`` says why."""


@dataclass
class _Persister:
    """Loads the file as vcrpy does (nothing if the run starts it over), and writes only what
    :func:`~pytest_barapi.cassette_guard.guarded` lets through, all at once. Never raises on
    saving (vcrpy saves on leaving the cassette, before it unpatches): ``problem`` says why."""

    cassettes: RunCassettes
    starts_over: bool
    problem: Failure | None = None
    refused: bool = False  # by the guard: the file was put back as the run found it

    def load_cassette(self, cassette_path: str, serializer: Any) -> Any:
        from vcr.persisters.filesystem import CassetteNotFoundError, FilesystemPersister

        if self.starts_over:
            raise CassetteNotFoundError()
        requests, responses, *rest = FilesystemPersister.load_cassette(cassette_path, serializer)
        whole = serializer.deserialize(Path(cassette_path).read_text(encoding="utf-8"))
        senders = whole.get(SENT_BY) if isinstance(whole, dict) else None
        if not isinstance(senders, list) or len(senders) != len(requests):
            senders = [None] * len(requests)  # edited by hand, say: matched as before
        for request, sender in zip(requests, senders, strict=True):
            setattr(request, SENT_BY, sender if isinstance(sender, str) and sender else None)
        return (requests, responses, *rest)

    def save_cassette(self, cassette_path: str, cassette_dict: Any, serializer: Any) -> None:
        from pytest_barapi.cassette_guard import write_whole

        path = Path(cassette_path)
        # A copy: the guard writes the placeholders in, and the cassette stays open for the
        # run's next request with what it holds.
        senders = [getattr(r, SENT_BY, None) or "" for r in cassette_dict["requests"]]
        kept = guarded(
            copy.deepcopy(cassette_dict),
            serializer,
            path,
            self.cassettes.known,
            purpose=API,
            beside={SENT_BY: senders},
        )
        if isinstance(kept, Failure):
            self.problem = Failure((*kept.what, self.cassettes.put_back(path)))
            self.refused = True
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_whole(path, kept.text.encode("utf-8"))
        except OSError as error:
            reason = error.strerror or type(error).__name__
            self.problem = Failure(f"could not write the cassette {shown(path)}: {reason}")
