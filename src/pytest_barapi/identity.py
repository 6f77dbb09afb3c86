"""Who the exchange authenticates as, the form of each grant it makes as that identity, and
where the client's credentials travel (the form or an HTTP Basic header)."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from urllib.parse import quote

from pytest_barapi.secrets import Secret

# The credentials a password grant needs, by setting name.
CREDENTIALS = ("user", "password", "client_id", "client_secret")
# How the client authenticates to the token endpoint (RFC 6749 §2.3.1): with client_id and
# client_secret in the form, as barapi documents, or in an HTTP Basic header; or not at all,
# a public client (§2.1) naming itself with client_id in the form and holding no secret.
BODY = "body"
BASIC = "basic"
NONE = "none"
CLIENT_AUTHS = (BODY, BASIC, NONE)
# The same methods by the names servers and RFC 7591 (token_endpoint_auth_method) give them.
STANDARD_CLIENT_AUTHS = {"client_secret_post": BODY, "client_secret_basic": BASIC, NONE: NONE}
CLIENT_FIELDS = ("client_id", "client_secret")


@dataclass(frozen=True)
class Identity:
    """The inputs of one password grant. Hashable, so each identity is exchanged once."""

    user: str | None
    password: Secret | None
    client_id: str | None
    client_secret: Secret | None
    scope: str = ""
    # A public client (client_auth none): it has no secret, so none is needed, asked for or
    # sent. The same client for every identity of a run, as the setting is.
    public_client: bool = False
    # The names a barapi_session_factory call passed, so that advice names those arguments
    # rather than the settings. Not part of who it is: the same credentials, the same identity.
    given: frozenset[str] = field(default=frozenset(), compare=False)

    def overridden(
        self,
        *,
        user: str | None = None,
        password: str | Secret | None = None,
        client_id: str | None = None,
        client_secret: str | Secret | None = None,
        scope: str | None = None,
    ) -> Identity:
        """This identity with each given credential replaced; ``None`` keeps the current one.

        Passwords and client secrets given as text are wrapped in :class:`Secret` at once.
        """
        return Identity(
            user=self.user if user is None else user,
            password=self.password if password is None else _secret(password),
            client_id=self.client_id if client_id is None else client_id,
            client_secret=self.client_secret if client_secret is None else _secret(client_secret),
            scope=self.scope if scope is None else scope,
            public_client=self.public_client,
            given=self.given,
        )

    def given_by_factory(self, names: Iterable[str]) -> Identity:
        """This identity, knowing that a ``barapi_session_factory`` call passed ``names``."""
        return replace(self, given=frozenset(names))

    def missing(self) -> list[str]:
        """The names (from :data:`CREDENTIALS`) of each credential that is not set and is
        needed (a public client needs no client secret)."""
        return [name for name in self.needed() if not getattr(self, name)]

    def needed(self) -> tuple[str, ...]:
        """The credentials (from :data:`CREDENTIALS`) a grant of this identity sends."""
        if self.public_client:
            return tuple(name for name in CREDENTIALS if name != "client_secret")
        return CREDENTIALS

    def credential_pairs(self) -> list[tuple[str | None, Secret | None]]:
        """Each secret with the name it travels with (HTTP Basic carries them together)."""
        return [(name, secret) for _kind, name, secret in self.secret_fields()]

    def secret_fields(self) -> list[tuple[str, str | None, Secret | None]]:
        """Each secret as (its field in the grant form, the name it travels with, the secret):
        HTTP Basic carries a name and its secret together."""
        return [
            ("password", self.user, self.password),
            ("client_secret", self.client_id, self.client_secret),
        ]

    def password_grant(self) -> dict[str, str]:
        """The form body of RFC 6749 §4.3, exactly as barapi's API page shows it (without
        client_secret for a public client)."""
        return self._without_a_public_secret(
            {
                "grant_type": "password",
                "client_id": self.client_id or "",
                "client_secret": _revealed(self.client_secret),
                "username": self.user or "",
                "password": _revealed(self.password),
                "scope": self.scope,
            }
        )

    def refresh_grant(self, refresh_token: str) -> dict[str, str]:
        """The form body of RFC 6749 §6, authenticated with the same client credentials.

        No ``scope``: omitted, it means "the scope originally granted" (§6), which is what we
        want. Sent empty, some servers read it as no scope at all (oauthlib reads ``scope=``
        as ``[""]``), and sending the configured scope again is refused by a server that
        granted less.
        """
        return self._without_a_public_secret(
            {
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "client_id": self.client_id or "",
                "client_secret": _revealed(self.client_secret),
            }
        )

    def _without_a_public_secret(self, form: dict[str, str]) -> dict[str, str]:
        # A public client sends none, even one set by mistake (RFC 6749 §2.1, §3.2.1).
        if self.public_client:
            del form["client_secret"]
        return form


def _secret(value: str | Secret) -> Secret:
    return value if isinstance(value, Secret) else Secret(value)


def _revealed(secret: Secret | None) -> str:
    # A grant is only built once missing() is empty; "" would be refused, never sent blind.
    return secret.reveal() if secret is not None else ""


def client_authenticated(
    form: dict[str, str], client_auth: str
) -> tuple[dict[str, str], dict[str, str]]:
    """The form and headers that send the grant ``form`` with the client authenticated the
    ``client_auth`` way: ``body`` and ``none`` leave the form as it is (a public client's
    form has no client_secret: :meth:`Identity.password_grant`); ``basic`` moves client_id and
    client_secret into an ``Authorization: Basic`` header, out of the form (§2.3.1: one method
    per request; the header names the client, so the form need not).
    """
    if client_auth != BASIC:
        return form, {}
    rest = {name: value for name, value in form.items() if name not in CLIENT_FIELDS}
    credentials = basic_credentials(form["client_id"], form["client_secret"])
    return rest, {"Authorization": f"Basic {credentials}"}


def basic_credentials(client_id: str, client_secret: str) -> str:
    """The credentials of an ``Authorization: Basic`` header as RFC 6749 §2.3.1 builds them:
    id and secret each form-encoded, joined by ":", then base64.

    A space is encoded as %20, not +: a form decoder reads both as a space, and a server that
    only percent-decodes (Authlib does) reads only %20 as one.
    """
    pair = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}"
    return base64.b64encode(pair.encode()).decode()
