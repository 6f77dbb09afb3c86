"""Every form a secret can take in an output or a file, for the tests that grep for leaks.

Written here, apart from :mod:`pytest_barapi.masking`, on purpose: a test that looked for the
forms the masker knows would only check the masker against itself.
"""

from __future__ import annotations

import base64
import html
import json
from urllib.parse import quote, quote_plus


def forms(secret: str, depth: int = 2) -> set[str]:
    """Every way ``secret`` can be written in an output: plain, URL-encoded (a form body, a
    query), JSON- and repr-escaped up to ``depth`` times (--debug traces reprs of reprs), and
    each of those XML-escaped (junit xml)."""
    written = {secret, quote(secret, safe=""), quote(secret), quote_plus(secret)}
    for _ in range(depth):
        written |= {json.dumps(form)[1:-1] for form in written}
        written |= {json.dumps(form, ensure_ascii=False)[1:-1] for form in written}
        written |= {repr(form)[1:-1] for form in written}
    return written | {html.escape(form) for form in written}


def basic(name: str, secret: str) -> str:
    """``Authorization: Basic`` credentials (RFC 7617)."""
    return base64.b64encode(f"{name}:{secret}".encode()).decode()
