"""The provider keys file: read by the web process at each start, so `supervisorctl restart web` applies a key."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from llmgateway.keys_file import KeysFileError, load, parse
from tests.gateway.stack import TIMEOUT, GatewayStack

HI = [{"role": "user", "content": "hi"}]


def test_parse_reads_names_and_values_and_says_where_a_bad_line_is() -> None:
    text = "# keys\n\nA_KEY=plain\nexport B_KEY = 'quoted value'\nC_KEY=\"x=y\"\nD_KEY=\n"
    assert parse(text) == {"A_KEY": "plain", "B_KEY": "quoted value", "C_KEY": "x=y", "D_KEY": ""}
    with pytest.raises(KeysFileError) as bad:
        parse("A_KEY=fine\nsk-secret-without-a-name\n", source="keys.env")
    assert str(bad.value) == "keys.env, line 2: expected NAME=value"  # where, never the value


def test_load_makes_the_file_private_and_sets_the_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "keys.env"
    path.write_text("KEYS_FILE_TEST_A=one\n")
    path.chmod(0o644)
    monkeypatch.setenv("KEYS_FILE_TEST_A", "inherited")
    assert load(path) == ["KEYS_FILE_TEST_A"]
    assert os.environ["KEYS_FILE_TEST_A"] == "one"  # the file wins: it is where keys are changed
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load(tmp_path / "missing.env") == []


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GatewayStack, Path]]:
    keys = tmp_path_factory.mktemp("keys") / "provider-keys.env"
    stack = GatewayStack(env={"GATEWAY_KEYS_FILE": str(keys), "LOG_LEVEL": "INFO"})  # INFO: the names read
    try:
        yield stack, keys
    finally:
        stack.close()


def call(stack: GatewayStack) -> httpx.Response:
    return httpx.post(
        stack.url + "/v1/chat/completions",
        json={"model": "auto", "messages": HI, "max_tokens": 20},
        headers={"Authorization": f"Bearer {stack.member}"},
        timeout=TIMEOUT,
    )


def test_a_key_written_to_the_file_is_used_after_a_restart_of_the_web_process(keyed) -> None:
    stack, keys = keyed
    # Only the file can give this variable: the web process's environment has no FILE_KEY_A.
    stack.providers({"key": "fk", "fake": "a", "api_key_env": "FILE_KEY_A"})
    before = call(stack)
    assert before.status_code == 422 and "FILE_KEY_A is not set" in before.text

    keys.write_text(f"# written by hand\nFILE_KEY_A={stack.fakes['a'].api_key}\n")
    keys.chmod(0o644)  # an editor's usual mode: made private when read
    log = stack.restart()
    after = call(stack)
    assert after.status_code == 200, after.text
    assert after.headers["x-route-provider"] == "fk"
    assert stack.fakes["a"].requests[-1].headers.get("authorization") == f"Bearer {stack.fakes['a'].api_key}"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600
    text = log.read_text()
    assert "read FILE_KEY_A" in text and stack.fakes["a"].api_key not in text  # names, never values
