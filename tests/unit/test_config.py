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
    ({"listen": {"tls_port": 8775}}, r"listen\.tls_port: needs listen\.tls_cert"),
    ({"listen": {"port": 8775, "tls_port": 8775, "tls_cert": "c", "tls_key": "k"}},
     r"listen\.tls_port: 1 to 65535, not listen\.port"),
    ({"upstreams": [{"name": "a", "tls_ca": "ca.pem"}]}, r"upstreams\[0\]\.tls_ca: set tls"),
    ({"simulator": {"enabled": True}, "redis": {"url": "http://x"}},
     r"redis\.url: 'http://x' is not a redis://"),
    ({"simulator": {"enabled": True}, "redis": {"url": "redis://x", "local_share": 0}},
     r"redis\.local_share: a fraction above 0"),
    ({"store": {"front": "var/other.db"}}, r"store\.front and store\.retired are set by"),
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


def test_example_hash_has_the_parameters_hash_password_makes() -> None:
    """issue 8: an operator copying the example gets the same argon2id cost as
    `chapar hash-password` (the OWASP parameters chosen in policy/auth.py)."""
    from router.policy.auth import hash_password

    made = hash_password("x").split("$")[3]
    example = load(EXAMPLE).accounts[0].password_hash.split("$")[3]
    assert example == made == "m=19456,t=2,p=1"


def test_status_style_defaults_to_standard() -> None:
    """design §6 / issue 8: most panels and aiosmpplib know only the standard statuses,
    so an account that does not choose gets them; vendor codes are opt-in."""
    from router.model.status import REFUSALS, status_for

    cfg = parse({"simulator": {"enabled": True},
                 "accounts": [{"system_id": "a", "password_hash": HASH}]})
    style = cfg.accounts[0].status_style
    assert style == "standard"
    assert status_for(REFUSALS["blacklisted"], style) == 0x0B


def test_python_is_not_capped() -> None:
    """issue 8: no dependency forbids a newer Python, so none is excluded."""
    import tomllib

    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    spec = tomllib.loads(pyproject.read_text())["project"]["requires-python"]
    assert spec == ">=3.11"
