"""pytest-barapi: an authenticated barapi session for pytest integration suites.

PYTEST_DONT_REWRITE: this package holds no test asserts (see ``_PlainImports``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib import import_module
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec, PathFinder
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_barapi.secrets import Secret
    from pytest_barapi.session import BarapiSession, SessionFactory
    from pytest_barapi.token import BarapiToken

__all__ = ["BarapiSession", "BarapiToken", "Secret", "SessionFactory"]

# The one place the version is written: hatch reads it from here into the package metadata
# ([tool.hatch.version] in pyproject.toml). A literal, so that reading it imports nothing.
__version__ = "0.1.0"


class _PlainImports(MetaPathFinder):
    """Imports this package's modules with Python's own loader, ahead of pytest's.

    pytest rewrites the asserts of every module of a ``pytest11`` distribution with an import
    hook that reads and writes only its own cached bytecode. Where it cannot write it
    (``PYTHONDONTWRITEBYTECODE=1``, as in many CI containers) it parses and compiles each such
    module again on every run, and the ``.pyc`` pip compiled at install time is never read.
    These modules hold no test asserts: Python's own loader, which reads that ``.pyc``, is
    enough. Only this small module goes through pytest's hook.
    """

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> ModuleSpec | None:
        if not fullname.startswith(__name__ + "."):
            return None
        return PathFinder.find_spec(fullname, path, target)


if not any(isinstance(finder, _PlainImports) for finder in sys.meta_path):
    sys.meta_path.insert(0, _PlainImports())

# Imported on first use (PEP 562): pytest imports this package to load the plugin, and a run
# that uses no barapi fixture should not pay for the token module.
_HOMES = {
    "BarapiSession": "session",
    "BarapiToken": "token",
    "Secret": "secrets",
    "SessionFactory": "session",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        value = getattr(import_module(f"pytest_barapi.{_HOMES[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
