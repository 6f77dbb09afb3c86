"""Whatever a secret is made of and whatever is done to the text it shows in, it stays masked.

Random secrets and tokens (any Unicode: beyond the BMP, quotes, backslashes, ``%``, ``{``...)
go through what pytest, a reporter or an encoding does to a text before the masker sees it:
written as bytes (a bytes repr, UTF-8 read as latin-1), escaped one to three times (JSON, repr,
ascii(), XML), cut by a diff or around ``...``, coloured. No piece of 12 characters of a secret
may show in the masked text.

Each transformation here is written per character, apart from the masker: the form a piece of
a secret takes is then a piece of the form the secret takes, and can be looked for.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable

from hypothesis import example, given, settings
from hypothesis import strategies as st

from pytest_barapi.known_secrets import KnownSecrets
from pytest_barapi.masking import MIN_PIECE, Masker

Transformation = Callable[[str], str]


def _per_character(escape: Callable[[str], str]) -> Transformation:
    return lambda text: "".join(map(escape, text))


def _repr_escape(character: str, ascii_only: bool) -> str:
    """How a repr in single quotes writes ``character`` (ascii() escapes all non-ASCII)."""
    if character in "\\'":
        return "\\" + character
    if ascii_only and ord(character) > 0x7E:
        return ascii(character)[1:-1]
    return repr(character)[1:-1] if not character.isprintable() else character


def _bytes_repr(text: str) -> str:
    """The inside of ``repr(text.encode())``, as a bytes repr in single quotes writes it."""
    shown = []
    for byte in text.encode():
        character = chr(byte)
        if character in "\\'":
            shown.append("\\" + character)
        elif 0x20 <= byte < 0x7F:
            shown.append(character)
        else:
            shown.append({9: "\\t", 10: "\\n", 13: "\\r"}.get(byte, f"\\x{byte:02x}"))
    return "".join(shown)


ESCAPINGS: dict[str, Transformation] = {
    "json": _per_character(lambda c: json.dumps(c)[1:-1]),
    "json-unicode": _per_character(lambda c: json.dumps(c, ensure_ascii=False)[1:-1]),
    "repr": _per_character(lambda c: _repr_escape(c, ascii_only=False)),
    "ascii": _per_character(lambda c: _repr_escape(c, ascii_only=True)),
    "xml": _per_character(lambda c: html.escape(c)),
}
ENCODINGS: dict[str, Transformation] = {
    "as-is": lambda text: text,
    "bytes-repr": _bytes_repr,
    "utf-8-read-as-latin-1": lambda text: text.encode().decode("latin-1"),
}
# What pytest's highlighting does: each character that is not a letter or digit coloured apart.
COLOUR = _per_character(lambda c: c if c.isalnum() else f"\x1b[33m{c}\x1b[39;49;00m")
UNCOLOURED = re.compile(r"\x1b\[[0-9;]*m")

CHARACTERS = st.one_of(
    st.sampled_from(list("'\"\\%{}&<>#;.ux0é€😀\t\n ")),
    st.characters(blacklist_categories=("Cs", "Cc")),
)
SECRETS = st.text(CHARACTERS, min_size=MIN_PIECE, max_size=40)


@settings(max_examples=150, deadline=None)
# The issue's own cases: a non-ASCII token in a bytes repr cut by "..."; a password
# \uXXXX-escaped three levels deep, its head skipped by a diff; a coloured one.
@example(
    password="fake-pw-Passwört-12345",
    token="9GX\u6f22\u5b57-fake-token-Lq8",
    encoding="bytes-repr",
    escapings=["repr"],
    cut=(0.6, 0.8),
    dots=True,
    coloured=False,
)
@example(
    password="fake-pw-\u00e9\u20ac\U0001f600-Lq8vT",
    token="fake-token-Mx3\u00e9\u00e9\u00e9\u00e9-Z",
    encoding="as-is",
    escapings=["json", "repr", "repr"],
    cut=(0.3, 0.3),
    dots=False,
    coloured=False,
)
@example(
    password="Tr0ub4dor&3\"xkcd'batt3ry",
    token="fake-token-%{}\\-Kq2wE8",
    encoding="as-is",
    escapings=["repr"],
    cut=(0.0, 0.0),
    dots=False,
    coloured=True,
)
@given(
    password=SECRETS,
    token=SECRETS,
    encoding=st.sampled_from(sorted(ENCODINGS)),
    escapings=st.lists(st.sampled_from(sorted(ESCAPINGS)), min_size=1, max_size=3),
    cut=st.tuples(st.floats(0, 1), st.floats(0, 1)),
    dots=st.booleans(),
    coloured=st.booleans(),
)
def test_no_piece_of_a_secret_shows_whatever_is_done_to_the_text(
    password: str,
    token: str,
    encoding: str,
    escapings: list[str],
    cut: tuple[float, float],
    dots: bool,
    coloured: bool,
) -> None:
    known = KnownSecrets()
    known.add_pair("fake-user", password)
    known.add(token)

    def transformed(text: str) -> str:
        text = ENCODINGS[encoding](text)
        for escaping in escapings:
            text = ESCAPINGS[escaping](text)
        return text

    whole = transformed(f"{{'password': '{password}', 'token': '{token}'}}")
    # A long repr is cut around "..."; a diff skips identical leading characters.
    head, tail = sorted(round(at * len(whole)) for at in cut)
    shown = whole[:head] + "..." + whole[tail:] if dots else whole[head:]
    text = COLOUR(shown) if coloured else shown

    masked = Masker(known).mask(f"E   assert {text} == {{}}")

    seen = UNCOLOURED.sub("", masked)
    for secret in (password, token):
        for at in range(len(secret) - MIN_PIECE + 1):
            piece = transformed(secret[at : at + MIN_PIECE])
            assert piece not in seen, (secret, piece)
