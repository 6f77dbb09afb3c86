"""The one exception type the plugin raises for anything a user must fix."""


class BarapiError(Exception):
    """A failed or refused token exchange, with a message that names the cause and the fix.

    The message never holds a secret: it is shown once per test that needs the token.
    """


class GrantRefused(BarapiError):
    """The token endpoint answered a grant with an OAuth error (4xx, RFC 6749 §5.2).

    The server saw the grant and said no, unlike a timeout or a 5xx: for a refresh grant,
    this is when falling back to a password grant can help.
    """
