"""Where the admin token comes from, how it is compared, and where the API may listen."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from router.admin.settings import AdminSettings
from router.admin.token import (
    ENV,
    AdminConfigError,
    check_bind,
    resolve_token,
    token_matches,
)


def test_env_then_config_then_file(tmp_path: Path) -> None:
    file = tmp_path / "var" / "admin.token"
    settings = AdminSettings(token="from-config", token_file=str(file))
    assert resolve_token(settings, {ENV: "from-env"}) == ("from-env", "env")
    assert resolve_token(settings, {}) == ("from-config", "config")
    generated, origin = resolve_token(AdminSettings(token_file=str(file)), {})
    assert origin == str(file.resolve()) and len(generated) >= 32
    assert stat.S_IMODE(os.stat(file).st_mode) == 0o600
    assert resolve_token(AdminSettings(token_file=str(file)), {})[0] == generated  # kept


def test_bearer_compare() -> None:
    assert token_matches("abc", "Bearer abc")
    for header in (None, "", "abc", "Bearer ab", "Bearer abcd", "Basic abc", "bearer abc"):
        assert not token_matches("abc", header)


def test_non_loopback_needs_tls_and_token() -> None:
    check_bind(AdminSettings(host="127.0.0.1"), "")
    check_bind(AdminSettings(host="::1"), "t")
    with pytest.raises(AdminConfigError, match="tls_cert"):
        check_bind(AdminSettings(host="0.0.0.0"), "t")
    with pytest.raises(AdminConfigError, match="token"):
        check_bind(AdminSettings(host="10.0.0.1", tls_cert="c", tls_key="k"), "")
