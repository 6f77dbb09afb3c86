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
    """Every way ``secret`` can be written in an output: plain, URL-encoded once or twice (a
    form body, a query, a URL in the query of another), JSON- and repr-escaped up to
    ``depth`` times (--debug traces reprs of reprs), and each of those XML-escaped (junit
    xml). Bytes (a bytes repr, a URL) in UTF-8, and in latin-1 where the secret can be."""
    written = {secret}
    for encoding, errors in (
        ("utf-8", "surrogateescape"),
        ("utf-8", "surrogatepass"),
        ("latin-1", "strict"),
    ):
        try:
            raw = secret.encode(encoding, errors)
        except UnicodeEncodeError:
            continue
        once = {quote(raw, safe=""), quote(raw), quote_plus(raw)}
        written |= once | {repr(raw)[2:-1]}
        written |= {quote(form, safe="") for form in once} | {quote_plus(form) for form in once}
    for _ in range(depth):
        written |= {json.dumps(form)[1:-1] for form in written}
        written |= {json.dumps(form, ensure_ascii=False)[1:-1] for form in written}
        written |= {repr(form)[1:-1] for form in written}
    return written | {html.escape(form) for form in written}


def basic(name: str, secret: str, encoding: str = "utf-8") -> str:
    """``Authorization: Basic`` credentials (RFC 7617); requests' own ``auth=`` sends them in
    latin-1. A lone surrogate (a non-UTF-8 environment variable) as the byte it stands for."""
    errors = "surrogateescape" if encoding == "utf-8" else "strict"
    try:
        raw = f"{name}:{secret}".encode(encoding, errors)
    except UnicodeEncodeError:
        raw = f"{name}:{secret}".encode(encoding, "surrogatepass")
    return base64.b64encode(raw).decode()
