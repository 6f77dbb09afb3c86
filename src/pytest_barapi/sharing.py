"""Sharing each identity's outcome between the pytest-xdist workers of one run.

The xdist docs ("Making session-scoped fixtures execute only once") put a FileLock under
``tmp_path_factory.getbasetemp().parent``, the controller's basetemp. This module does the
same and fixes what that recipe lacks:

- a failure is shared like a token (a wrong password costs one request, not one per worker);
- files are private (a 0700 directory keyed by the testrun uid, 0600 files, names derived
  from the credentials with a per-run key that never touches the disk);
- no lock waits forever (the wait is bounded by ``--barapi-timeout``);
- the controller removes the directory when the run ends;
- a renewal is shared too: a worker that finds a newer token than the one it holds adopts it.

The controller tells each *local* worker where to share (through ``workerinput``). Remote
workers (``--tx ssh=...``, ``socket=...``, ``popen//via=...``) cannot see its files, get
nothing, and exchange for themselves. Without xdist nothing here runs and no file is made.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_barapi import outcome as outcomes
from pytest_barapi.identity import Identity
from pytest_barapi.outcome import Failure, Outcome
from pytest_barapi.settings import OPTIONS, Settings
from pytest_barapi.token import BarapiToken

WORKERINPUT = "barapi_sharing"
# Under the lock, a worker makes at most two grants (a refresh, then one password grant); each
# can take about twice the timeout (connect and read of the last try). Past that, the holder is
# stuck, and waiting longer would only hang the run.
GRANTS_UNDER_LOCK = 2
SLACK = 10.0

_directory_key = pytest.StashKey[Path]()
_run_key = pytest.StashKey[str]()


def lock_wait(settings: Settings) -> float:
    """How long a worker waits for another one's exchange before giving up."""
    return GRANTS_UNDER_LOCK * 2 * settings.timeout + SLACK


def plan(config: pytest.Config, node: Any) -> None:
    """Controller side: tell a local xdist worker where this run shares its tokens.

    Only paths are decided here; the directory is made by the first worker that needs a token,
    so a run that uses no barapi fixture leaves no trace.
    """
    spec = node.gateway.spec
    if not spec.popen or spec.via:
        return  # may be another host: it cannot see our files and exchanges for itself
    # The same basetemp xdist hands its workers (their basetemp is a child of it).
    tmp_path_factory = getattr(config, "_tmp_path_factory", None)
    if tmp_path_factory is None:
        return
    if _directory_key not in config.stash:
        testrunuid = node.workerinput["testrunuid"]
        config.stash[_directory_key] = tmp_path_factory.getbasetemp() / f"barapi-{testrunuid}"
        config.stash[_run_key] = os.urandom(16).hex()
    node.workerinput[WORKERINPUT] = {
        "directory": str(config.stash[_directory_key]),
        "key": config.stash[_run_key],
    }


def remove(config: pytest.Config) -> None:
    """Controller side, once every worker is gone: remove what the run shared."""
    directory = config.stash.get(_directory_key, None)
    if directory is not None:
        shutil.rmtree(directory, ignore_errors=True)


def for_worker(config: pytest.Config, settings: Settings) -> SharedOutcomes | None:
    """Worker side: the sharing the controller planned, or None (no xdist, or remote)."""
    workerinput = getattr(config, "workerinput", None)
    planned = workerinput.get(WORKERINPUT) if workerinput else None
    if not planned:
        return None
    return SharedOutcomes(Path(planned["directory"]), planned["key"], lock_wait(settings))


@dataclass(frozen=True)
class SharedOutcomes:
    """The outcome of each identity, decided by one worker and read by the others."""

    directory: Path
    run_key: str
    wait: float

    def decide(
        self, identity: Identity, work: Callable[[], Outcome], stale: BarapiToken | None = None
    ) -> Outcome:
        """The shared outcome for ``identity``, running ``work`` only if no worker has yet.

        With ``stale`` (a token this worker found expiring or rejected), a different token in
        the file means another worker has already renewed: it is adopted instead of renewing
        again, so workers never stampede the token endpoint.
        """
        from filelock import FileLock, Timeout

        try:
            directory = self._private_directory()
        except OSError as error:
            return Failure(f"cannot share the token between pytest-xdist workers: {error}")
        name = self._name(identity)
        lock = FileLock(directory / f"{name}.lock", timeout=self.wait, mode=0o600)
        try:
            lock.acquire()
        except Timeout:
            return Failure(
                f"gave up after {self.wait:g}s waiting for another pytest-xdist worker's token "
                f"exchange (lock {lock.lock_file}); it seems stuck. Check that barapi answers, "
                f"or raise {OPTIONS['timeout'].where()}"
            )
        try:
            path = directory / f"{name}.json"
            shared = _read(path)
            if shared is not None and _settled(shared, stale):
                return shared
            outcome = work()
            _write(path, outcome)
            return outcome
        finally:
            lock.release()

    def _private_directory(self) -> Path:
        self.directory.mkdir(mode=0o700, exist_ok=True)
        info = self.directory.lstat()
        if os.name == "posix" and (
            not stat.S_ISDIR(info.st_mode)
            or info.st_uid != os.getuid()
            or stat.S_IMODE(info.st_mode) & 0o077
        ):
            raise PermissionError(
                f"{self.directory} is not a directory private to this user; refusing to put "
                "tokens there"
            )
        return self.directory

    def _name(self, identity: Identity) -> str:
        # Keyed with a secret that only lives in the processes of this run: the name tells
        # nobody which credentials it is for, and cannot be used to guess a password.
        fields = [
            identity.user,
            identity.password.reveal() if identity.password else None,
            identity.client_id,
            identity.client_secret.reveal() if identity.client_secret else None,
            identity.scope,
        ]
        message = json.dumps(fields).encode()
        return hmac.new(self.run_key.encode(), message, hashlib.sha256).hexdigest()[:32]


def _settled(shared: Outcome, stale: BarapiToken | None) -> bool:
    if stale is None or isinstance(shared, Failure):
        return True
    return shared.access_token != stale.access_token


def _read(path: Path) -> Outcome | None:
    try:
        return outcomes.from_json(json.loads(path.read_text()))
    except FileNotFoundError:
        return None
    except (ValueError, TypeError):
        return None  # unreadable (it never should be: it is written whole): decide again


def _write(path: Path, outcome: Outcome) -> None:
    data = outcomes.to_json(outcome)
    # mkstemp makes the file 0600; the rename makes it appear whole or not at all.
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as file:
            json.dump(data, file)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
