"""pytest-barapi: an authenticated barapi session for pytest integration suites."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_barapi.secrets import Secret
    from pytest_barapi.session import BarapiSession, SessionFactory
    from pytest_barapi.token import BarapiToken

__all__ = ["BarapiSession", "BarapiToken", "Secret", "SessionFactory"]

# The one place the version is written: hatch reads it from here into the package metadata
# ([tool.hatch.version] in pyproject.toml). A literal, so that reading it imports nothing.
__version__ = "0.1.0"

# Imported on first use (PEP 562): pytest imports this package to load the plugin, and a run
# that uses no barapi fixture should not pay for the token module.
_HOMES = {"BarapiError": "errors", "BarapiToken": "token", "Secret": "secrets"}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        value = getattr(import_module(f"pytest_barapi.{_HOMES[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
