"""How vcrpy reads and writes a token cassette's file: whole and scanned, or not at all.

:mod:`pytest_barapi.token_cassette` decides when to record and replay; this module is what it hands
vcrpy for the file itself. The format follows the file's suffix (JSON, else YAML). A persister
gives vcrpy only the interactions :func:`~pytest_barapi.token_cassette.load` has checked, and writes
a recording next to its final place before moving it there, so no reader ever sees half a
cassette. A file that still holds a real value after scrubbing
(:mod:`pytest_barapi.cassette_guard` says how) is deleted and never kept. While a cassette is
open, vcrpy's own logging is shut: it would log each answer before the scrub, tokens included.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_barapi.cassette_guard import CassetteScan

Recorded = tuple[list[Any], list[Any]]


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
    """vcrpy's persister for one exchange: loads what was checked, writes atomically, scanned.

    A recording starts empty (``recorded`` None): re-recording replaces, it never appends. The
    file is written next to its final place and moved there with ``os.replace``, so a reader,
    or another xdist worker recording at the same time, only ever sees a whole cassette.

    Saving never raises: vcrpy saves on leaving the cassette, and an exception there would
    skip its unpatching and leave every later request of the run going through this cassette.
    What went wrong is kept in ``problem`` instead.
    """

    recorded: Recorded | None = None
    scan: CassetteScan | None = None
    problem: str | None = None

    def load_cassette(self, cassette_path: str, serializer: Any) -> Recorded:
        from vcr.persisters.filesystem import CassetteNotFoundError

        if self.recorded is None:
            raise CassetteNotFoundError()
        return self.recorded

    def save_cassette(self, cassette_path: str, cassette_dict: Any, serializer: Any) -> None:
        from vcr.serialize import serialize

        path = Path(cassette_path)
        temporary = None
        try:
            if self.scan is None:
                raise RuntimeError("a replay never saves")
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(
                dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
            )
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write(serialize(cassette_dict, serializer))
            written = Path(temporary).read_text(encoding="utf-8")
            finding = self.scan.leak(written, serializer.deserialize(written))
            if finding is not None:
                self.problem = (
                    f"refusing to keep the cassette {shown(path)}: after scrubbing it still "
                    f"held {finding}; it was deleted. Check what the token endpoint sends back, "
                    "or report this as a pytest-barapi bug."
                )
                return
            os.chmod(temporary, 0o644)  # a cassette is meant to be committed and shared
            os.replace(temporary, path)
        except OSError as error:
            reason = error.strerror or type(error).__name__
            self.problem = f"could not write the cassette {shown(path)}: {reason}"
        except Exception as error:
            self.problem = f"could not write the cassette {shown(path)} ({type(error).__name__})"
        finally:
            if temporary is not None:
                Path(temporary).unlink(missing_ok=True)


def shown(path: Path) -> str:
    """``path`` as a message shows it: relative to the working directory where it is inside."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
