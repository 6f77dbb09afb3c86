"""How settings are found: CLI beats env beats ini beats default, and the header says which.

Secrets never show: not in the header, not in ``--help``, whatever the environment holds.
"""

from __future__ import annotations

import pytest

from tests import reference_server
from tests.reference_server import CLIENT_SECRET, PASSWORD, ReferenceServer


def header_line(result: pytest.RunResult) -> str:
    [line] = [line for line in result.outlines if line.startswith("barapi: ")]
    return line


def test_the_default_url_and_nothing_set(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest()
    assert header_line(result) == (
        "barapi: url: https://barapi.cloud (default), user: - (default), "
        "client_id: - (default), password: not set, client_secret: not set, "
        "scope: - (default), client_auth: body (default), token_path: /oauth/token (default), "
        "timeout: 30s (default)"
    )


def test_cli_beats_env_beats_ini(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeini(
        """
        [pytest]
        barapi_url = https://ini.example.test
        barapi_user = ini-user
        barapi_client_id = ini-client
        barapi_scope = read
        barapi_client_auth = basic
        barapi_token_path = /ini/token
        """
    )
    monkeypatch.setenv("BARAPI_URL", "https://env.example.test")
    monkeypatch.setenv("BARAPI_USER", "env-user")
    monkeypatch.setenv("BARAPI_TOKEN_PATH", "/env/token")
    result = pytester.runpytest(
        "--barapi-url=https://cli.example.test",
        "--barapi-token-path=/cli/token",
        "--barapi-timeout=5",
    )
    assert header_line(result) == (
        "barapi: url: https://cli.example.test (cli), user: env-user (env), "
        "client_id: ini-client (ini), password: not set, client_secret: not set, "
        "scope: read (ini), client_auth: basic (ini), token_path: /cli/token (cli), "
        "timeout: 5s (cli)"
    )


def test_an_empty_env_var_counts_as_unset(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CI systems expand a secret that is not configured to "": fall through to the ini."""
    pytester.makeini("[pytest]\nbarapi_user = ini-user\n")
    monkeypatch.setenv("BARAPI_USER", "")
    assert "user: ini-user (ini)" in header_line(pytester.runpytest())


def test_secrets_show_as_set_with_their_source(
    pytester: pytest.Pytester, barapi_server: ReferenceServer
) -> None:
    result = pytester.runpytest(f"--barapi-client-secret={CLIENT_SECRET}")
    line = header_line(result)
    assert "password: set (env), client_secret: set (cli)" in line
    assert PASSWORD not in result.stdout.str()
    assert CLIENT_SECRET not in result.stdout.str()


def test_the_settings_reach_the_exchange(
    pytester: pytest.Pytester, barapi_server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BARAPI_USER")
    monkeypatch.delenv("BARAPI_CLIENT_ID")
    pytester.makeini("[pytest]\nbarapi_client_id = fake-client-id-Ci4kZ\nbarapi_scope = read\n")
    pytester.makepyfile("def test_token(barapi_token): pass")
    result = pytester.runpytest("--barapi-user=alice@example.test")
    result.assert_outcomes(passed=1)
    [form] = barapi_server.token_requests
    assert (form["username"], form["client_id"], form["scope"]) == (
        "alice@example.test",
        "fake-client-id-Ci4kZ",
        "read",
    )


def test_help_shows_names_and_defaults_but_no_value_from_the_environment(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BARAPI_PASSWORD", PASSWORD)
    monkeypatch.setenv("BARAPI_URL", "https://from-env.example.test")
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(
        ["barapi token exchange and session:", "*--barapi-password=PASSWORD*", "*BARAPI_PASSWORD*"]
    )
    assert PASSWORD not in result.stdout.str()
    assert "from-env.example.test" not in result.stdout.str()


@pytest.mark.parametrize("key", ["barapi_password", "barapi_client_secret"])
def test_a_secret_in_an_ini_file_works_with_a_warning(
    pytester: pytest.Pytester,
    barapi_server: ReferenceServer,
    monkeypatch: pytest.MonkeyPatch,
    key: str,
) -> None:
    value = {"barapi_password": PASSWORD, "barapi_client_secret": CLIENT_SECRET}[key]
    monkeypatch.delenv(key.upper())
    pytester.makeini(f"[pytest]\nbarapi_user = {reference_server.USER}\n{key} = {value}\n")
    pytester.makepyfile("def test_token(barapi_token): pass")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, warnings=1)
    # Shown where it is written, the line itself masked.
    result.stdout.fnmatch_lines(
        [
            "tox.ini:3",
            f"*tox.ini:3: PytestConfigWarning: barapi: {key} is set in an ini file*set the "
            f"{key.upper()} environment variable*",
            f"    {key} = ********",
        ]
    )
    assert value not in result.stdout.str()
