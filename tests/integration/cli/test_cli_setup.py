"""``chapar version``, ``hash-password`` and ``check-config`` as an operator runs them:
the installed console script."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import yaml
from argon2 import PasswordHasher
from argon2.exceptions import VerifyMismatchError

from tests.conftest import ROOT
from tests.integration.cli.support import EXIT_CONFIG, chapar

# --- version, hash-password ------------------------------------------------------------


def test_version() -> None:
    done = chapar("version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"chapar {version('chapar')}"


def test_hash_password_stdin_verifies() -> None:
    done = chapar("hash-password", "--stdin", stdin="s3cret!x\n")
    assert done.returncode == 0, done.stderr
    line = done.stdout.strip()
    assert line.startswith("$argon2id$")
    assert "s3cret!x" not in done.stdout + done.stderr
    hasher = PasswordHasher()
    assert hasher.verify(line, "s3cret!x")
    with pytest.raises(VerifyMismatchError):
        hasher.verify(line, "s3cret!y")
    # salted: the same password hashes differently each time
    again = chapar("hash-password", "--stdin", stdin="s3cret!x\n").stdout.strip()
    assert again != line and hasher.verify(again, "s3cret!x")


def test_hash_password_warns_over_eight_characters() -> None:
    done = chapar("hash-password", "--stdin", stdin="ninechars\n")
    assert done.returncode == 0
    assert "8 characters" in done.stderr
    assert PasswordHasher().verify(done.stdout.strip(), "ninechars")


def test_hash_password_refuses_empty() -> None:
    done = chapar("hash-password", "--stdin", stdin="\n")
    assert done.returncode == EXIT_CONFIG
    assert done.stdout == ""


# --- check-config --------------------------------------------------------------------


def valid_config(password_hash: str) -> dict[str, Any]:
    return {"listen": {"host": "127.0.0.1", "port": 2775},
            "accounts": [{"system_id": "esme1", "password_hash": password_hash}],
            "upstreams": [{"name": "carrier", "host": "127.0.0.1", "port": 2776,
                           "connections": 2}],
            "dispatch": {"retry_delay": 1.5}}


def test_check_config_valid(tmp_path: Path, password_hash: str) -> None:
    path = tmp_path / "chapar.yaml"
    path.write_text(yaml.safe_dump(valid_config(password_hash)))
    done = chapar("check-config", str(path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{path}: ok"


def test_check_config_example_file_if_present(tmp_path: Path) -> None:
    example = ROOT / "config" / "chapar.example.yaml"
    if not example.exists():
        pytest.skip("no config/chapar.example.yaml in this tree")
    done = chapar("check-config", str(example))
    assert done.returncode == 0, done.stderr


def _broken(edit: Callable[[dict[str, Any]], None]) -> Callable[[str], dict[str, Any]]:
    def build(password_hash: str) -> dict[str, Any]:
        cfg = valid_config(password_hash)
        edit(cfg)
        return cfg
    return build


INVALID: dict[str, tuple[Callable[[str], dict[str, Any]], str, str]] = {
    "unknown key": (_broken(lambda c: c["listen"].update(hots="x")),
                    "listen.hots", "unknown key"),
    "unknown top-level key": (_broken(lambda c: c.update(upstream=[])),
                              "upstream", "unknown key"),
    "wrong type": (_broken(lambda c: c["listen"].update(port="abc")),
                   "listen.port", "expected an integer"),
    "wrong type in list": (_broken(lambda c: c["upstreams"][0].update(window="big")),
                           "upstreams[0].window", "expected an integer"),
    "wrong type bool": (_broken(lambda c: c.update(auth={"uniform_bind_failure": "yes"})),
                        "auth.uniform_bind_failure", "true or false"),
    "bad literal": (_broken(lambda c: c["upstreams"][0].update(bind="rx")),
                    "upstreams[0].bind", "must be one of"),
    "negative": (_broken(lambda c: c["dispatch"].update(retry_delay=-1)),
                 "dispatch.retry_delay", "negative"),
    "missing required key": (_broken(lambda c: c["accounts"][0].pop("password_hash")),
                             "accounts[0].password_hash", "required"),
    "missing upstream name": (_broken(lambda c: c["upstreams"][0].pop("name")),
                              "upstreams[0].name", "required"),
    "bad hash": (_broken(lambda c: c["accounts"][0].update(password_hash="secret12")),
                 "accounts[0].password_hash", "argon2id"),
    # a cross-key check: no single key to name, the file and the reason suffice
    "no carrier": (_broken(lambda c: c.pop("upstreams")), "", "nowhere to send"),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_check_config_invalid(tmp_path: Path, password_hash: str, case: str) -> None:
    build, key_path, words = INVALID[case]
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(build(password_hash)))
    done = chapar("check-config", str(path))
    assert done.returncode == EXIT_CONFIG
    assert "ok" not in done.stdout
    message = done.stderr.strip()
    assert message.startswith(f"chapar: {path}: {key_path}"), message
    assert len(message.splitlines()) == 1
    assert words in message
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("text,words", [
    ("listen: [\n", "not valid YAML"),
    ("- just\n- a list\n", "expected a mapping"),
])
def test_check_config_not_a_config(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "odd.yaml"
    path.write_text(text)
    done = chapar("check-config", str(path))
    assert done.returncode == EXIT_CONFIG
    assert str(path) in done.stderr and words in done.stderr
    assert "Traceback" not in done.stderr


def test_check_config_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    done = chapar("check-config", str(path))
    assert done.returncode == EXIT_CONFIG
    assert f"{path}: cannot read" in done.stderr


def test_run_with_invalid_config_exits_2(tmp_path: Path, password_hash: str) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(INVALID["wrong type"][0](password_hash)))
    done = chapar("run", "--config", str(path))
    assert done.returncode == EXIT_CONFIG
    assert f"{path}: listen.port" in done.stderr
