"""Config validation: readable errors naming the file and the key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from router.config import ConfigError, load, parse

HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"
EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "chapar.example.yaml"


def test_example_config_is_valid() -> None:
    cfg = load(EXAMPLE)
    assert cfg.listen.port == 2775 and cfg.upstreams[0].name == "carrier1"


def test_defaults_need_somewhere_to_send() -> None:
    with pytest.raises(ConfigError, match="nowhere to send"):
        parse({})
    assert parse({"simulator": {"enabled": True}}).store.durability == "process"


@pytest.mark.parametrize(("raw", "message"), [
    ({"listen": {"port": "abc"}}, r"listen\.port: expected an integer, got 'abc'"),
    ({"listen": {"prot": 1}}, r"listen\.prot: unknown key"),
    ({"store": {"durability": "disk"}}, r"store\.durability: must be one of process, power"),
    ({"accounts": [{"system_id": "a"}]}, r"accounts\[0\]\.password_hash: required"),
    ({"accounts": [{"system_id": "a", "password_hash": "plain"}]},
     r"accounts\[0\]\.password_hash: not an argon2id hash"),
    ({"accounts": [{"system_id": "a", "password_hash": HASH, "bind_types": ["tx", "xx"]}]},
     r"accounts\[0\]\.bind_types\[1\]: must be one of"),
    ({"simulator": {"enabled": "yes"}}, r"simulator\.enabled: expected true or false"),
    ({"upstreams": [{"name": "a"}, {"name": "a"}]}, r"names must be unique"),
    ({"dispatch": {"retry_delay": -1}}, r"dispatch\.retry_delay: must not be negative"),
    ([1, 2], r"top level: expected a mapping"),
])
def test_errors_name_the_key(raw: object, message: str) -> None:
    if isinstance(raw, dict):
        raw = {"simulator": {"enabled": True}, **raw} if "simulator" not in raw else raw
    with pytest.raises(ConfigError, match=message):
        parse(raw, source="x.yaml")


def test_load_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("listen: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: not valid YAML"):
        load(bad)
    with pytest.raises(ConfigError, match=r"missing\.yaml: cannot read"):
        load(tmp_path / "missing.yaml")
