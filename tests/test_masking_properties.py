"""Whatever a secret is made of and whatever is done to the text it shows in, it stays masked.

Random secrets and tokens (any Unicode: beyond the BMP, quotes, backslashes, ``%``, ``{``...;
one in two with a backslash) go through what pytest, a reporter or an encoding does to a text
before the masker sees it: written in another encoding (a bytes repr of UTF-8 or latin-1,
UTF-8 read as latin-1, latin-1 read as UTF-8 as pytest reads captured output), escaped one to
three times (JSON, repr, ascii(), XML), cut by a diff or around ``...``, coloured. A secret of
8 to 11 characters may not show whole, and no piece of 12 characters of a longer one may show
(counted in the form the encoding gives it: in bytes, a byte is a character). With the masker
off, the same check finds the secrets: it can fail. A secret shorter than 8 characters (any
Unicode, on one line) shown in pytest's diff of two compared texts, as pytest writes it
(plain, in the crash message, coloured), is masked in the summary's quotes and as the rest of
the diff's line, and the rest stays as it was.

What the guide names among the known limits is left out, and only that: a piece that holds so
many of the secret's backslashes before what an escape may stand for that fewer than 8
characters are left once they are dropped, more than 16 of them in a secret, and a secret that
holds what reads as an escape (``\\u00e9``, ``&amp;``, junit xml's ``#x00``). So is a secret
with ``**`` in it, which could not be told from ``********``.

Each transformation here is written per character, apart from the masker (but reading latin-1
as UTF-8, which decodes the whole text): the form a piece of a secret takes is then a piece of
the form the secret takes, and can be looked for.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from pytest_barapi.known_secrets import KnownSecrets
from pytest_barapi.masking import MIN_PIECE, SHORT, Masker

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
    """The inside of a bytes repr in single quotes, of bytes given as latin-1 text."""
    written = []
    for character in text:
        byte = ord(character)
        if character in "\\'":
            written.append("\\" + character)
        elif 0x20 <= byte < 0x7F:
            written.append(character)
        else:
            written.append({9: "\\t", 10: "\\n", 13: "\\r"}.get(byte, f"\\x{byte:02x}"))
    return "".join(written)


ESCAPINGS: dict[str, Transformation] = {
    "json": _per_character(lambda c: json.dumps(c)[1:-1]),
    "json-unicode": _per_character(lambda c: json.dumps(c, ensure_ascii=False)[1:-1]),
    "repr": _per_character(lambda c: _repr_escape(c, ascii_only=False)),
    "ascii": _per_character(lambda c: _repr_escape(c, ascii_only=True)),
    "xml": _per_character(lambda c: html.escape(c)),
}
# How text is written in another encoding: the form it takes (bytes as the latin-1 text of
# the same code points), then how that form is shown (per character).
ENCODINGS: dict[str, tuple[Transformation, Transformation]] = {
    "as-is": (lambda text: text, lambda form: form),
    "bytes-repr": (lambda text: text.encode().decode("latin-1"), _bytes_repr),
    "utf-8-read-as-latin-1": (lambda text: text.encode().decode("latin-1"), lambda form: form),
    "latin-1-bytes-repr": (lambda text: text, _bytes_repr),
    # A process that writes latin-1, as pytest reads what it captures (UTF-8, replacing).
    "latin-1-read-as-utf-8": (
        lambda text: text.encode("latin-1").decode("utf-8", "replace"),
        lambda form: form,
    ),
}
LATIN_1 = {"latin-1-bytes-repr", "latin-1-read-as-utf-8"}
# What pytest's highlighting does: each character that is not a letter or digit coloured apart.
COLOUR = _per_character(lambda c: c if c.isalnum() else f"\x1b[33m{c}\x1b[39;49;00m")
UNCOLOURED = re.compile(r"\x1b\[[0-9;]*m")

SPECIAL = "'\"\\%{}&<>#;.ux0é€😀\t\n "
# What an escape may stand for: a backslash of the secret before it cannot be told from one.
ESCAPABLE = set("ntrbf'\"/.uUx&<>")
# What reads as an escape in a secret: the known limits leave it out.
LOOKS_ESCAPED = re.compile(r"\\[uUx][0-9a-fA-F]|&(?:amp;)*(?:lt|gt|quot|apos|amp|#)|#x")


def _characters(latin_1: bool) -> st.SearchStrategy[str]:
    most = 0xFF if latin_1 else 0x10FFFF
    return st.one_of(
        st.sampled_from([c for c in SPECIAL if ord(c) <= most]),
        st.characters(blacklist_categories=("Cs", "Cc"), max_codepoint=most),
    )


def _secrets(latin_1: bool) -> st.SearchStrategy[str]:
    """Secrets of 8 to 40 characters, one in two with a backslash in them."""
    characters = _characters(latin_1)
    with_backslash = st.tuples(
        st.text(characters, min_size=3, max_size=20), st.text(characters, min_size=4, max_size=19)
    ).map("\\".join)
    return st.one_of(st.text(characters, min_size=SHORT, max_size=40), with_backslash)


@dataclass(frozen=True)
class Case:
    """A password and a token, and what is done to the text that shows them."""

    password: str
    token: str
    encoding: str
    escapings: tuple[str, ...]
    cut: tuple[float, float]
    dots: bool
    coloured: bool

    def form(self, secret: str) -> str:
        """The form ``secret`` takes in the case's encoding, before it is shown."""
        return ENCODINGS[self.encoding][0](secret)

    def transformed(self, text: str, *, form: bool = False) -> str:
        """``text`` as the case shows it (``form``: text is a form already)."""
        text = ENCODINGS[self.encoding][1](text if form else self.form(text))
        for escaping in self.escapings:
            text = ESCAPINGS[escaping](text)
        return text


@st.composite
def cases(draw: st.DrawFn, whole: bool = False) -> Case:
    """A case; ``whole``: the text is shown uncut."""
    encoding = draw(st.sampled_from(sorted(ENCODINGS)))
    secrets = _secrets(latin_1=encoding in LATIN_1)
    return Case(
        password=draw(secrets),
        token=draw(secrets),
        encoding=encoding,
        escapings=tuple(draw(st.lists(st.sampled_from(sorted(ESCAPINGS)), min_size=1, max_size=3))),
        cut=(0.0, 0.0) if whole else draw(st.tuples(st.floats(0, 1), st.floats(0, 1))),
        dots=False if whole else draw(st.booleans()),
        coloured=draw(st.booleans()),
    )


def _kept(secret: str) -> list[int]:
    """For each character of ``secret``, whether it is left once the escapes that could be
    undone in it are (a run of backslashes before what an escape may stand for goes, one
    before anything else becomes one)."""
    kept = []
    for at, character in enumerate(secret):
        if character != "\\":
            kept.append(1)
            continue
        after = secret[at:].lstrip("\\")[:1]
        escapable = not after or after in ESCAPABLE or not " " <= after <= "~"
        kept.append(0 if escapable or secret[at + 1 : at + 2] == "\\" else 1)
    return kept


def _within_known_limits(secret: str) -> bool:
    """Whether the check holds for ``secret`` (and it can be told apart from ``********``)."""
    kept = _kept(secret)
    dropped = sum(1 for at, one in enumerate(kept) if not one and secret[at + 1 : at + 2] != "\\")
    return not LOOKS_ESCAPED.search(secret) and dropped <= 16 and "**" not in secret


def checked(secret: str) -> list[str]:
    """What of ``secret`` (in the form an encoding gives it) may not show: itself if it has 8
    to 11 characters, each piece of 12 if it is longer (but those the known limits leave
    out)."""
    kept = _kept(secret)
    if len(secret) < MIN_PIECE:
        return [secret] if sum(kept) >= SHORT else []
    return [
        secret[at : at + MIN_PIECE]
        for at in range(len(secret) - MIN_PIECE + 1)
        if sum(kept[at : at + MIN_PIECE]) >= SHORT
    ]


def leaks(case: Case, mask: Callable[[str], str]) -> dict[str, list[str]]:
    """What ``mask`` leaves of each of the case's secrets in the text the case makes."""
    whole = case.transformed(f"{{'password': '{case.password}', 'token': '{case.token}'}}")
    # A long repr is cut around "..."; a diff skips identical leading characters.
    head, tail = sorted(round(at * len(whole)) for at in case.cut)
    shown = whole[:head] + "..." + whole[tail:] if case.dots else whole[head:]
    text = COLOUR(shown) if case.coloured else shown

    seen = UNCOLOURED.sub("", mask(f"E   assert {text} == {{}}"))
    return {
        secret: [
            piece
            for piece in checked(case.form(secret))
            if case.transformed(piece, form=True) in seen
        ]
        for secret in (case.password, case.token)
    }


@settings(max_examples=300, deadline=None)
# The issue's own cases: a non-ASCII token in a bytes repr cut by "..."; a password
# \uXXXX-escaped three levels deep, its head skipped by a diff; a coloured one. The audit's:
# a backslash in a piece of 12, in a latin-1 bytes repr.
@example(
    Case(
        password="fake-pw-Passwört-12345",
        token="9GX\u6f22\u5b57-fake-token-Lq8",
        encoding="bytes-repr",
        escapings=("repr",),
        cut=(0.6, 0.8),
        dots=True,
        coloured=False,
    )
)
@example(
    Case(
        password="fake-pw-\u00e9\u20ac\U0001f600-Lq8vT",
        token="fake-token-Mx3\u00e9\u00e9\u00e9\u00e9-Z",
        encoding="as-is",
        escapings=("json", "repr", "repr"),
        cut=(0.3, 0.3),
        dots=False,
        coloured=False,
    )
)
@example(
    Case(
        password="Tr0ub4dor&3\"xkcd'batt3ry",
        token="fake-token-%{}\\-Kq2wE8",
        encoding="as-is",
        escapings=("repr",),
        cut=(0.0, 0.0),
        dots=False,
        coloured=True,
    )
)
@example(
    Case(
        password="fake-pw-Zabc\\defgZAB",
        token="fake-token-\xe9\xe9-Kq2wE8",
        encoding="latin-1-bytes-repr",
        escapings=("repr",),
        cut=(0.3, 0.3),  # a diff that shows from "Zabc" on
        dots=False,
        coloured=False,
    )
)
@example(
    Case(
        password="short-pw",
        token="ab\\'cdefghijklmn",
        encoding="latin-1-read-as-utf-8",
        escapings=("json",),
        cut=(0.0, 0.0),
        dots=False,
        coloured=False,
    )
)
@given(cases())
def test_no_piece_of_a_secret_shows_whatever_is_done_to_the_text(case: Case) -> None:
    assume(_within_known_limits(case.password) and _within_known_limits(case.token))
    known = KnownSecrets()
    known.add_pair("fake-user", case.password)
    known.add(case.token)
    assert leaks(case, Masker(known).mask) == {case.password: [], case.token: []}


@settings(max_examples=50, deadline=None)
@given(cases(whole=True))
def test_without_the_masker_the_same_check_finds_the_secrets(case: Case) -> None:
    """The control: the check can fail. Shown whole and unmasked, each secret leaks."""
    assume(_within_known_limits(case.password) and _within_known_limits(case.token))
    assume(checked(case.form(case.password)) or checked(case.form(case.token)))
    for secret, shown in leaks(case, lambda text: text).items():
        assert shown or not checked(case.form(secret))


# A secret shorter than SHORT is masked only where it stands as a whole value: one of them is
# the rest of a line of pytest's diff of two compared texts. The lines as pytest writes them:
# in the traceback (after "E"), in the crash message (-rA, junit xml, --tb=native), and
# coloured by its highlighter (--color=yes).
DIFF_LINES = {
    "traceback": ("E       AssertionError: assert {left} == 'y'", "E         {sign} {text}"),
    "crash-message": ("AssertionError: assert {left} == 'y'", "  {sign} {text}"),
    "coloured": (
        "\x1b[1m\x1b[31mE       AssertionError: assert {left} == 'y'\x1b[0m",
        "\x1b[1m\x1b[31mE         \x1b[0m\x1b[92m{sign} {text}\x1b[39;49;00m\x1b[90m\x1b[39;49;00m",
    ),
}


def _short_secrets() -> st.SearchStrategy[str]:
    """Secrets of 1 to 7 characters, on one line (a diff shows a line apart), without a tab
    (the known limits: with a secret that holds one, lines are not told apart)."""
    one_line = _characters(latin_1=False).filter(lambda c: c not in "\n\r\t")
    return st.text(one_line, min_size=1, max_size=SHORT - 1)


def _shown_in_a_diff(secret: str, style: str, mask: Callable[[str], str]) -> list[str]:
    """pytest's explanation of ``assert secret == "y"`` (lines: summary, blank, ``- y``,
    ``+ secret``), masked, without colour."""
    summary, line = DIFF_LINES[style]
    blank = line.format(sign="", text="").rstrip()
    explanation = [
        summary.format(left=repr(secret)),
        blank,
        line.format(sign="-", text="y"),
        line.format(sign="+", text=secret),
    ]
    return UNCOLOURED.sub("", mask("\n".join(explanation))).split("\n")


@settings(max_examples=300, deadline=None)
@example(secret="hunter2", style="traceback")
@example(secret="FAILED", style="crash-message")
@example(secret="e", style="coloured")
@example(secret="=", style="crash-message")  # not the second "=" of the comparison
@given(secret=_short_secrets(), style=st.sampled_from(sorted(DIFF_LINES)))
def test_a_short_secret_is_masked_where_pytests_diff_shows_it_whole(
    secret: str, style: str
) -> None:
    # Within the known limits: a backslash that ends it stays; "*" is what masks.
    assume(_within_known_limits(secret) and not secret.endswith("\\") and "*" not in secret)
    assume(secret != "y" and secret.strip())
    known = KnownSecrets()
    known.add_pair("fake-user", secret)
    summary, _, other, shown = _shown_in_a_diff(secret, style, Masker(known).mask)
    quote = repr(secret)[0]
    assert summary.endswith(f"assert {quote}********{quote} == 'y'")
    assert shown.endswith(" + ********")
    assert other.endswith(" - y")  # the rest stays readable
    assert "AssertionError: assert" in summary


@settings(max_examples=50, deadline=None)
@given(secret=_short_secrets(), style=st.sampled_from(sorted(DIFF_LINES)))
def test_without_the_masker_a_short_secret_shows_in_the_diff(secret: str, style: str) -> None:
    """The control: unmasked, the diff's line shows the secret whole."""
    assert _shown_in_a_diff(secret, style, lambda text: text)[3].endswith(f"+ {secret}")
