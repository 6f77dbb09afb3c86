"""How the masker finds a known secret in a text, whatever form it takes there.

pytest and the libraries under a test print a secret in many forms: URL-encoded in a form
body, escaped in JSON or a repr (a repr of a repr of JSON, with ``--full-trace -l``),
XML-escaped in junit xml, base64-encoded with its name in an HTTP Basic header, in pieces
where pytest skips the identical head of two compared strings, and cut short next to the
``...`` where it shortens a long repr. Each of these is masked as ``********``.
"""

from __future__ import annotations

import base64
import html
import json
import re
import subprocess
import sys
import threading
from collections.abc import Callable
from urllib.parse import quote, quote_plus

import pytest

from pytest_barapi.known_secrets import KnownSecrets
from pytest_barapi.masking import FRAGMENT, Masker, basic_forms, too_short
from pytest_barapi.secrets import MASK

# Obviously fake, with every character some escaping changes: quotes, backslash, space,
# &, +, /, %, =, a tab, an entity-like "&amp;", non-ASCII and a character beyond the BMP.
PASSWORD = "fake pw/\"quoted\" 'single' \\back+plus&amp;=%25é€😀\ttab"
USER = "fake-user"


def sentence(secret: str) -> str:
    """A line that holds ``secret``, with both kinds of quote around it: repr then escapes
    the same characters whatever the secret is, so the masked text can be written out."""
    return f"""password "{secret}" isn't shown"""


@pytest.fixture
def known() -> KnownSecrets:
    """The secrets of a run: the password, known with its user (for HTTP Basic)."""
    known = KnownSecrets()
    known.add_pair(USER, PASSWORD)
    return known


@pytest.fixture
def masker(known: KnownSecrets) -> Masker:
    """A masker of the run's secrets."""
    return Masker(known)


def test_a_secret_shows_until_it_is_masked(masker: Masker) -> None:
    text = sentence(PASSWORD)
    assert PASSWORD in text  # the control: without the masker, the secret shows
    assert masker.reveals(text)
    assert masker.mask(text) == sentence(MASK)


def test_a_text_without_a_secret_comes_back_as_it_was(masker: Masker) -> None:
    text = "E   assert 'fake pw' == 'fake-user' ... 12 passed in 0.42s"
    assert not masker.reveals(text)
    assert masker.mask(text) is text


@pytest.mark.parametrize(
    "encode",
    [quote, lambda text: quote(text, safe=""), quote_plus],
    ids=["quote", "quote-safe-nothing", "quote_plus"],
)
def test_a_url_encoded_secret_is_masked(masker: Masker, encode: Callable[[str], str]) -> None:
    body = f"grant_type=password&username={USER}&password={encode(PASSWORD)}&scope=read"
    assert masker.mask(body) == f"grant_type=password&username={USER}&password={MASK}&scope=read"


ESCAPES: dict[str, Callable[[str], str]] = {
    "json": json.dumps,
    "json-unicode": lambda text: json.dumps(text, ensure_ascii=False),
    "repr": repr,
    "bytes-repr": lambda text: repr(text.encode()),
    "xml": html.escape,
}


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
@pytest.mark.parametrize("escape", ESCAPES)
def test_an_escaped_secret_is_masked_at_any_depth(masker: Masker, escape: str, depth: int) -> None:
    text, expected = sentence(PASSWORD), sentence(MASK)
    for _ in range(depth):
        text, expected = ESCAPES[escape](text), ESCAPES[escape](expected)
    assert masker.mask(text) == expected


@pytest.mark.parametrize(
    "chain",
    [
        # --full-trace -l: the repr of an AssertionError whose message holds a JSON body's repr
        ["json", "repr", "repr"],
        ["json", "repr", "xml"],  # the same, in junit xml
        ["bytes-repr", "json-unicode", "xml", "repr"],
        ["xml", "json", "xml", "json"],
    ],
    ids=lambda chain: "-then-".join(chain),
)
def test_a_secret_escaped_in_several_ways_one_over_another_is_masked(
    masker: Masker, chain: list[str]
) -> None:
    text, expected = sentence(PASSWORD), sentence(MASK)
    for escape in chain:
        text, expected = ESCAPES[escape](text), ESCAPES[escape](expected)
    assert masker.mask(text) == expected


@pytest.mark.parametrize(
    "pair",
    [f"{USER}:{PASSWORD}", f"{quote_plus(USER)}:{quote_plus(PASSWORD)}"],
    ids=["RFC 7617", "RFC 6749 form-encodes both halves first"],
)
@pytest.mark.parametrize("b64encode", [base64.b64encode, base64.urlsafe_b64encode])
@pytest.mark.parametrize("padded", [True, False])
def test_http_basic_credentials_are_masked_with_their_padding(
    masker: Masker, pair: str, b64encode: Callable[[bytes], bytes], padded: bool
) -> None:
    credentials = b64encode(pair.encode()).decode()
    assert credentials.endswith("=")  # the padding tells the length: it goes too
    if not padded:
        credentials = credentials.rstrip("=")
    assert (
        masker.mask(f"Authorization: Basic {credentials}\r\n") == f"Authorization: Basic {MASK}\r\n"
    )


def test_basic_forms_are_the_unpadded_base64_of_each_pair() -> None:
    assert basic_forms("id", "s+cret") == {
        base64.b64encode(b"id:s+cret").decode().rstrip("="),
        base64.b64encode(b"id:s%2Bcret").decode().rstrip("="),
        base64.urlsafe_b64encode(b"id:s+cret").decode().rstrip("="),
        base64.urlsafe_b64encode(b"id:s%2Bcret").decode().rstrip("="),
    }
    # A space: + as a form encodes it, %20 as the exchange sends it (Authlib reads only %20).
    assert base64.b64encode(b"id:s%20cret").decode().rstrip("=") in basic_forms("id", "s cret")


SHARED = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJmYWtlLXV"
ACCESS = SHARED + "zZXIiLCJ0eXAiOiJhY2Nlc3MifQ.ZmFrZS1hY2Nlc3MtdG9rZW4"
REFRESH = SHARED + "ZXIiLCJ0eXAiOiJyZWZyZXNoIn0.ZmFrZS1yZWZyZXNoLXRva2Vu"


@pytest.fixture
def tokens(known: KnownSecrets) -> tuple[str, str]:
    """An access and a refresh token that share their first 40 characters, as JWTs do."""
    assert len(SHARED) == 40
    known.add(ACCESS, REFRESH)
    return ACCESS, REFRESH


def test_the_tails_of_two_compared_tokens_are_masked(
    masker: Masker, tokens: tuple[str, str]
) -> None:
    """pytest skips what two compared strings share, and shows only their tails."""
    access, refresh = tokens
    diff = (
        "Skipping 30 identical leading characters in diff, use -v to show\n"
        f"- {refresh[30:]}\n"
        f"+ {access[30:]}\n"
    )
    assert masker.mask(diff) == (
        f"Skipping 30 identical leading characters in diff, use -v to show\n- {MASK}\n+ {MASK}\n"
    )


def test_any_piece_of_12_characters_is_masked_and_no_shorter_one(
    masker: Masker, tokens: tuple[str, str]
) -> None:
    access, _ = tokens
    assert masker.mask(f"[{access[50:62]}]") == f"[{MASK}]"
    assert masker.mask(f"[{access[50:61]}]") == f"[{access[50:61]}]"
    # Pieces of escaped forms count their characters as the secret has them.
    assert masker.mask(json.dumps(PASSWORD[5:17])) == f'"{MASK}"'


@pytest.mark.parametrize(
    ("secret", "shown"),
    [
        ("fake-pw-Zabc\\defgZAB", "Zabc\\defgZAB"),  # as printed
        ("fake-pw-Zabc\\defgZAB", "Zabc\\\\defgZAB"),  # in a repr
        ("fake-pw-Zabc\\defgZAB", "Zabc\\\\\\\\defgZAB"),  # in a repr of a repr
        # The password with "\Zq" after it: a diff line showed its last 12.
        ("Tr0ub4dor&3\"xkcd'batt3ry\\Zq", "d\\'batt3ry\\\\Zq"),
    ],
)
def test_a_piece_of_12_characters_holding_a_backslash_is_masked(secret: str, shown: str) -> None:
    """A backslash of a secret is one of its characters: undoing escapes keeps one before a
    character no escape writes."""
    known = KnownSecrets()
    known.add_pair(USER, secret)
    assert Masker(known).mask(f"E  - {shown}") == f"E  - {MASK}"


@pytest.mark.parametrize(
    "piece", ["fgh\\'ijklmno", "lmnop\\nqrstu", 'rstu\\"vwxyz9', "z9\\x41bcdefg"]
)
@pytest.mark.parametrize(
    "escape", [str, repr, json.dumps, ascii], ids=["as-is", "repr", "json", "ascii"]
)
def test_a_piece_holding_a_backslash_an_escape_may_write_is_masked(
    piece: str, escape: Callable[[str], str]
) -> None:
    """Undoing escapes drops a backslash before a quote, an "n" or an "x" (it cannot be told
    from an escape), and reads "\\x41" as "A": a piece of 12 characters of the secret that
    holds one is found as it normalizes, shorter."""
    secret = "fake-pw-abcdefgh\\'ijklmnop\\nqrstu\\\"vwxyz9\\x41bcdefg"
    assert len(piece) == 12
    assert piece in secret
    known = KnownSecrets()
    known.add_pair(USER, secret)
    shown = escape(piece)
    masked = Masker(known).mask(f"E  - {shown}")
    # The quote after the piece may go too: the secret has one there.
    assert masked.startswith(f"E  - {shown[: shown.index(piece[0])]}{MASK}")


def test_a_head_and_a_tail_cut_by_pytest_are_masked_from_8_characters(
    masker: Masker, tokens: tuple[str, str]
) -> None:
    """pytest shortens a long repr to its head and tail around "..."."""
    access, _ = tokens
    assert masker.mask(f"'{access[:8]}...{access[-8:]}'") == f"'{MASK}...{MASK}'"
    assert masker.mask(f"'{access[:7]}...{access[-7:]}'") == f"'{access[:7]}...{access[-7:]}'"


def test_a_cut_that_splits_an_escape_leaves_nothing_of_it(masker: Masker) -> None:
    secret = "fake-passwörd-with-ä-long-tail"
    masker.known.add(secret)
    shown = repr(json.dumps(secret))  # '"fake-passw\\u00f6rd-with-\\u00e4-long-tail"'
    head = shown[: shown.index("00f6") + 1]  # ends in "\\u0"
    tail = shown[shown.index("00e4") + 2 :]  # starts with "e4"
    assert masker.mask(f"{head}...{tail}") == f"""'"{MASK}...{MASK}"'"""


def test_wherever_pytest_cuts_no_8_characters_of_a_secret_show(masker: Masker) -> None:
    """Each accent below is an escape (\\u00e9), which the cut may split."""
    secret = "fake-ßëçrét-ünïcödé-àçcéñts-ôñly"
    masker.known.add(secret)
    shown = repr(json.dumps({"password": secret}))
    escaped_or_not = r"(?:\\+u00[0-9a-f]{2}|[a-z-])"
    for maxsize in range(3, len(shown)):
        # What pytest's saferepr does with a repr longer than maxsize.
        head, tail = (maxsize - 3) // 2, maxsize - 3 - (maxsize - 3) // 2
        text = masker.mask(shown[:head] + "..." + shown[len(shown) - tail :])
        assert not re.search(escaped_or_not + "{8}", text.replace("password", ""))


@pytest.mark.parametrize(
    "secret",
    [
        "fake-pZ..Wq7-rest-tail",
        "fake.pass..word...Zq7",
        "fake-pw-.....-tail.Zq7",
        "...fake-pw-Zq7...",
    ],
)
def test_a_secret_with_dots_of_its_own_is_masked_wherever_pytest_cuts_it(secret: str) -> None:
    """A head may end, or a tail start, inside the run of dots the cut leaves."""
    known = KnownSecrets()  # this secret alone: no other one's characters to pass for its own
    known.add(secret)
    masker = Masker(known)
    shown = f"step 42 ........ ok {secret!r} step 43 ........ ok"
    at = shown.index(secret)
    for head in range(len(shown) + 1):
        for tail in range(head, len(shown) + 1):
            text = masker.mask(shown[:head] + "..." + shown[tail:])
            # What the cut left of the secret: its first characters, its last ones.
            first = secret[: max(0, min(head - at, len(secret)))]
            last = secret[max(0, tail - at) :]
            for part in (first[-FRAGMENT:], last[:FRAGMENT]):
                if len(part) == FRAGMENT:
                    assert part not in text, (head, tail)


def test_a_secret_of_8_to_11_characters_is_masked_only_whole_and_everywhere(
    known: KnownSecrets,
) -> None:
    """The documented limit: a secret shorter than 12 characters has no pieces, and is
    masked wherever it shows, inside a word too (from 8 characters on)."""
    known.add("testing1")
    assert Masker(known).mask("pytesting1 testing12 testing") == f"py{MASK} {MASK}2 testing"


@pytest.mark.parametrize(
    ("secret", "text"),
    [
        ("x", "platform linux -- Python 3.12.1, pytest-9.0.0"),
        ("e", "1 failed, 2 passed in 0.42s"),
        ("FAILED", "FAILED test_api.py::test_me - assert 401 == 200"),
        ("test", "pytest tests tes"),
        ("1", "===================== 1 failed, 1 passed in 0.42s ======================"),
        ("2", "E       assert 1 == 2"),
        ("x", "E         + max(x1, x2)\nE         - 1.x"),
        ("e", "a line - e-mail (see) pytest.ini."),
    ],
)
def test_a_secret_shorter_than_8_characters_leaves_the_output_readable(
    secret: str, text: str
) -> None:
    known = KnownSecrets()
    known.add(secret)
    assert secret in text  # the control: the secret is in there, inside other words
    assert Masker(known).mask(text) == text


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("password='x'", f"password='{MASK}'"),
        ('{"access_token": "x", "token_type": "Bearer"}', f'{{"access_token": "{MASK}", '),
        ("grant_type=password&password=x&scope=read", f"&password={MASK}&"),
        ("Authorization: Bearer x", f"Bearer {MASK}"),
        ("token: x\n", f"token: {MASK}\n"),
        ("=x&password=x", f"={MASK}&password={MASK}"),
        ("barapi_password = x\n", f"barapi_password = {MASK}\n"),
        ("before\nx\nafter", f"before\n{MASK}\nafter"),
        # pytest's diff of two compared texts: the rest of a line after "+ ", "- " or "? ".
        ("E         - y\nE         + x\n", f"E         - y\nE         + {MASK}\n"),
        ("AssertionError: assert 'x' == 'y'\n  \n  - y\n  + x", f"\n  + {MASK}"),
        ("http://alice:x@barapi.test/", f"http://alice:{MASK}@barapi.test/"),
        ("the password=x. Then", f"password={MASK}. Then"),
        ("logged in (x)", f"({MASK})"),
    ],
)
def test_a_secret_shorter_than_8_characters_is_masked_where_it_stands_as_a_value(
    text: str, masked: str
) -> None:
    known = KnownSecrets()
    known.add("x")
    assert masked in Masker(known).mask(text)


def test_which_secrets_are_too_short_is_told_by_kind_never_by_value() -> None:
    known = KnownSecrets()
    known.add("x", kind="password")
    known.add("FAILED", kind="access_token")
    known.add("short", "long enough secret")
    assert too_short(known) == ["access_token", "password", "secret"]


@pytest.mark.parametrize("secret", ["ab\\u00e9cdx", "x&amp;y&lt;z"])
def test_a_secret_whose_escapes_undone_leave_under_8_characters_is_told_too(secret: str) -> None:
    """The masker looks for the text with its escapes undone (abécdx, x&y<z): shorter than 8
    there, it is masked only as a whole value, and the run says so."""
    known = KnownSecrets()
    known.add(secret, kind="password")
    assert too_short(known) == ["password"]


def test_hits_that_overlap_or_touch_become_one_mask(
    masker: Masker, tokens: tuple[str, str]
) -> None:
    access, refresh = tokens
    assert masker.mask(f"tokens: {access}{refresh} {refresh[:-3]}") == f"tokens: {MASK} {MASK}"


def test_a_token_known_after_the_first_call_is_masked_at_the_next(
    masker: Masker, known: KnownSecrets
) -> None:
    text = f"got {ACCESS}"
    assert masker.mask(text) is text
    known.add(ACCESS)  # the exchange, on another thread
    assert masker.mask(text) == f"got {MASK}"


def test_a_secret_of_one_repeated_character_is_masked_without_blowing_up(
    known: KnownSecrets,
) -> None:
    known.add("a" * 2000)
    masker = Masker(known)
    assert masker.mask("x" + "a" * 100_000 + "y" + "a" * 11 + "z") == f"x{MASK}y{'a' * 11}z"


def test_threads_mask_while_tokens_arrive(masker: Masker, known: KnownSecrets) -> None:
    """Log lines are masked on any thread, while the exchange adds tokens on another."""
    tokens = [f"fake-token-{n:02d}-" + "x" * 40 for n in range(30)]
    arrived = [threading.Event() for _ in tokens]
    leaked: list[str] = []

    def log_a_line_with_each_token() -> None:
        for token, has_arrived in zip(tokens, arrived, strict=True):
            has_arrived.wait()
            masked = masker.mask(f"line {token}")
            if masked != f"line {MASK}":
                leaked.append(masked)

    threads = [threading.Thread(target=log_a_line_with_each_token) for _ in range(4)]
    for thread in threads:
        thread.start()
    for token, has_arrived in zip(tokens, arrived, strict=True):
        known.add(token)
        has_arrived.set()
    for thread in threads:
        thread.join()
    assert leaked == []


# What pytest writes with --color=yes: each quote and backslash of a compared string coloured
# apart, which cuts a secret into pieces shorter than 12 characters.
COLOURED = (
    "E  \x1b[0m  {\x1b[33m'\x1b[39;49;00m\x1b[33mpassword\x1b[39;49;00m\x1b[33m'\x1b[39;49;00m: "
    "\x1b[33m'\x1b[39;49;00m\x1b[33mTr0ub4dor&3\x1b[39;49;00m\x1b[33m\"\x1b[39;49;00m"
    "\x1b[33mxkcd\x1b[39;49;00m\x1b[33m\\\\\x1b[39;49;00m\x1b[33m'\x1b[39;49;00m"
    "\x1b[33mbatt3ry\x1b[39;49;00m\x1b[33m'\x1b[39;49;00m}"
)
COLOURED_PASSWORD = "Tr0ub4dor&3\"xkcd'batt3ry"


@pytest.mark.parametrize(
    "text",
    [COLOURED, COLOURED.replace("\x1b", "#x1B")],
    ids=["terminal", "junit-xml"],
)
def test_a_secret_cut_by_colour_codes_is_masked_and_the_colours_stay(text: str) -> None:
    known = KnownSecrets()
    known.add(COLOURED_PASSWORD)
    plain = text.replace("\x1b", "").replace("#x1B", "")
    assert "Tr0ub4dor&3" in plain  # the control: the colours cut it, they do not hide it
    masked = Masker(known).mask(text)
    assert "Tr0ub4dor" not in masked
    assert "batt3ry" not in masked
    assert masked.startswith(text[: text.index("Tr0ub4dor")])  # what comes before is kept
    assert masked.endswith("}")


def test_a_token_written_in_utf_16_is_masked_once_its_nuls_are_dropped() -> None:
    known = KnownSecrets()
    known.add(ACCESS)
    text = f"child said: {ACCESS}".encode("utf-16-le").decode("latin-1")
    assert ACCESS in text.replace("\x00", "")  # the control
    assert Masker(known).mask(text) == text[: text.index(ACCESS[0])] + MASK + "\x00"


LATIN = "Passwört-fake-123"


@pytest.mark.parametrize(
    "text",
    [
        "Authorization: Basic " + base64.b64encode(f"{USER}:{LATIN}".encode("latin-1")).decode(),
        repr(LATIN.encode("latin-1")),
        repr(LATIN.encode()),
        repr(repr(LATIN.encode())),
        LATIN.encode().decode("latin-1"),  # UTF-8 read as latin-1
        LATIN.encode("latin-1").decode("utf-8", "replace"),  # latin-1 read as UTF-8
    ],
    ids=[
        "basic-latin-1",
        "bytes-latin-1",
        "bytes-utf-8",
        "bytes-repr-repr",
        "mojibake",
        "replaced",
    ],
)
def test_a_secret_in_other_encodings_is_masked(text: str) -> None:
    known = KnownSecrets()
    known.add_pair(USER, LATIN)
    assert Masker(known).mask(text).count(MASK) == 1
    assert "Passw" not in Masker(known).mask(text)


@pytest.mark.parametrize(
    "secret",
    ["fake-\udcf6-password", "tok\udfffen-fake-token-123", "\udfff"],
    ids=["not-utf-8-environment", "lone-surrogate-in-json", "only-a-surrogate"],
)
def test_a_secret_of_any_code_points_is_masked_without_crashing(secret: str) -> None:
    known = KnownSecrets()
    known.add_pair(USER, secret)
    masker = Masker(known)
    for text in (f"is '{secret}'", repr(f"is '{secret}'"), json.dumps(f"is '{secret}'")):
        assert MASK in masker.mask(text)
        assert secret not in masker.mask(text)


# Measured in a process of its own, by its peak resident memory: tracemalloc would trace each
# of the millions of numbers the build makes, and take seconds to.
PEAK_OF_THE_BUILD = """
import base64, random, resource, sys
from pytest_barapi.known_secrets import KnownSecrets
from pytest_barapi.masking import Masker

token = {token}
known = KnownSecrets()
known.add(token)
masker = Masker(known)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
masker.mask("warm up")  # builds the index
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024 / len(token))
"""
TOKENS = {
    # 200k characters, no piece twice, written one way only.
    "hex": '"".join(f"{{n:x}}-" for n in range(40_000))[:200_000]',
    # Standard base64 (+ / =) is written three ways: as it is, and URL-encoded two ways.
    "base64": "base64.b64encode(random.Random(0).randbytes(150_000)).decode()",
}


@pytest.mark.skipif(sys.platform == "win32", reason="resource is POSIX's")
@pytest.mark.parametrize("token", list(TOKENS))
def test_the_index_of_a_long_token_costs_a_few_dozen_bytes_per_character(token: str) -> None:
    """A token answer may be up to 1 MiB: its index must not cost hundreds of MB in every
    process, kept or while it is built (a dict of every piece of 12 cost about 450 bytes per
    character; lists of every piece's hash and place, sorted, about 130 for hex and 450 for
    base64 at their peak)."""
    built = subprocess.run(
        [sys.executable, "-c", PEAK_OF_THE_BUILD.format(token=TOKENS[token])],
        capture_output=True,
        text=True,
        check=True,
    )
    assert float(built.stdout) < 100  # bytes per character, at the peak


def test_the_index_of_a_long_token_still_finds_what_it_must() -> None:
    token = "".join(f"{n:x}-" for n in range(40_000))[:200_000]
    known = KnownSecrets()
    known.add(token)
    masker = Masker(known)
    # And it still finds what it must: a piece, a head cut by "...", the whole token.
    piece = token[123_456 : 123_456 + 40]
    assert masker.mask(f"got {piece}!") == f"got {MASK}!"
    assert masker.mask(f"'{token[:10]}...' and") == f"'{MASK}...' and"
    assert masker.mask(repr(token)) == f"'{MASK}'"
    assert masker.mask("lorem ipsum " * 1000) == "lorem ipsum " * 1000
