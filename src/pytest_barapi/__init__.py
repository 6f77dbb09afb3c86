"""pytest-barapi: an authenticated barapi session for pytest integration suites."""

from pytest_barapi.errors import BarapiError
from pytest_barapi.secrets import Secret
from pytest_barapi.token import BarapiToken

__all__ = ["BarapiError", "BarapiToken", "Secret"]
