"""What the vcrpy cassette open in the process does with a request: play it, refuse it, or
let it reach the network (recorded or not).

While a cassette is open, vcrpy replaces urllib3's connection classes (which requests uses)
with subclasses that carry the cassette (``ConnectionCls.cassette``); the connection asks the
cassette, when the answer is wanted, whether it can play the request, and if not, whether it
is write-protected (it then refuses: ``CannotOverwriteExistingCassetteException``). This
module asks the same questions before the request is sent, so that ``barapi_session`` knows
whether its request will leave for the network. vcrpy is not imported here: no cassette can
be open in a process that never imported it.
"""

from __future__ import annotations

import sys
from typing import Any, Literal
from urllib.parse import urlsplit

import requests

# played: answered from the cassette; refused: vcrpy raises, nothing is sent; sent: the
# request reaches the network (no cassette open, or the cassette records it).
Fate = Literal["played", "refused", "sent"]


def fate(request: requests.PreparedRequest) -> Fate:
    """What happens to ``request`` if it is sent now."""
    cassette = _open_cassette(urlsplit(request.url or "").scheme)
    if cassette is None:
        return "sent"
    body = request.body
    if not isinstance(body, (bytes, str, type(None))):
        # A stream: reading it to match would spend it. vcrpy matches on the method and URL
        # by default; the user's match_on may differ, and then this is a guess either way.
        body = b""
    from vcr.request import Request

    asked = Request(request.method, request.url, body, dict(request.headers))
    if cassette.can_play_response_for(asked):
        return "played"
    # As vcrpy decides: a request the user's config drops (ignore_localhost, ignore_hosts, a
    # before_record_request that returns None) is sent, cassette or not.
    if cassette.write_protected and cassette.filter_request(asked):
        return "refused"
    return "sent"


def _open_cassette(scheme: str) -> Any:
    if "vcr.patch" not in sys.modules:
        return None  # vcrpy was never imported: no cassette can be open
    import urllib3.connectionpool

    pool = (
        urllib3.connectionpool.HTTPSConnectionPool
        if scheme == "https"
        else urllib3.connectionpool.HTTPConnectionPool
    )
    return getattr(pool.ConnectionCls, "cassette", None)


def any_open(url: str) -> bool:
    """Whether a vcrpy cassette (a test's, say) is open for requests to ``url``."""
    return _open_cassette(urlsplit(url).scheme) is not None
