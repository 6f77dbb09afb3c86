"""pytest-barapi: an authenticated barapi session for pytest integration suites.

PYTEST_DONT_REWRITE: loaded at start-up, where pytest would rewrite its asserts for nothing.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_barapi.errors import BarapiError
    from pytest_barapi.secrets import Secret
    from pytest_barapi.token import BarapiToken

__all__ = ["BarapiError", "BarapiToken", "Secret"]

# Imported on first use (PEP 562): pytest imports this package to load the plugin, and a run
# that uses no barapi fixture should not pay for the token module.
_HOMES = {"BarapiError": "errors", "BarapiToken": "token", "Secret": "secrets"}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        value = getattr(import_module(f"pytest_barapi.{_HOMES[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
