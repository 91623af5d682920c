"""The allow-listed environment, the secret filter and the isolation levels."""

from __future__ import annotations

from pathlib import Path

import pytest

from repaudit.model import Isolation
from repaudit.run import isolation


def test_allow_list_keeps_locale_and_path_and_drops_everything_else(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    monkeypatch.setenv("PYTHONPATH", "/somewhere")  # the auditor's, not the seed's
    monkeypatch.setenv("LD_PRELOAD", "/tmp/evil.so")
    monkeypatch.setenv("HF_TOKEN", "hf_x")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://user:secret@proxy.example:3128")
    env = isolation.base_environment(tmp_path / "bin")
    assert env["PATH"] == f"{tmp_path / 'bin'}:/usr/bin:/bin"
    assert env["LANG"] == env["LC_ALL"] == "C.UTF-8"
    assert not {"PYTHONPATH", "LD_PRELOAD", "HF_TOKEN", "HTTPS_PROXY"} & set(env)
    online = isolation.base_environment(tmp_path / "bin", network=True)
    assert online["HTTPS_PROXY"] == "http://proxy.example:3128"
    assert "HTTP_PROXY" not in online  # carries a password


@pytest.mark.parametrize(
    "name",
    [
        "GITHUB_TOKEN",
        "AWS_SECRET_ACCESS_KEY",
        "OPENAI_API_KEY",
        "DB_PASSWORD",
        "WANDB_API_KEY",
        "SSH_AUTH_SOCK",
        "KEY",
    ],
)
def test_credential_names_are_secret(name: str) -> None:
    assert isolation.is_secret(name)


@pytest.mark.parametrize(
    "name", ["LANG", "OMP_NUM_THREADS", "CUBLAS_WORKSPACE_CONFIG", "MONKEY_PATCH", "HIDDEN_SIZE"]
)
def test_ordinary_names_are_not(name: str) -> None:
    assert not isolation.is_secret(name)


def test_a_weaker_level_can_be_requested_a_stronger_one_never_claimed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("REPAUDIT_ISOLATION", raising=False)  # the suite may run at a weaker level
    strongest = isolation.detect_isolation()
    monkeypatch.setenv("REPAUDIT_ISOLATION", "none")
    assert isolation.detect_isolation() is Isolation.NONE
    monkeypatch.setenv("REPAUDIT_ISOLATION", "bubblewrap")
    assert isolation.detect_isolation() is strongest
    assert "WITHOUT isolation" in Isolation.NONE.note
    assert "bubblewrap" in Isolation.NONE.note
