"""The one exception type the plugin raises for anything a user must fix."""


class BarapiError(Exception):
    """A failed or refused token exchange, with a message that names the cause and the fix.

    The message never holds a secret: it is shown once per test that needs the token.
    """
