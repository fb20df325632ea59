"""Retention is configurable but never below six months."""

from __future__ import annotations

import pytest

from router.config import ConfigError, parse


def test_retention_below_six_months_is_refused_with_a_readable_error() -> None:
    """requirements §4: retention cannot be configured below six months."""
    with pytest.raises(ConfigError, match=r"chapar.yaml: records.retention_months: 5 is "
                       r"below the legal minimum of 6 months"):
        parse({"records": {"retention_months": 5}, "simulator": {"enabled": True}}, "chapar.yaml")


def test_longer_retention_and_a_text_policy_are_taken() -> None:
    config = parse({"records": {"retention_months": 24, "text": "digits"},
                    "simulator": {"enabled": True}}, "c.yaml")
    assert (config.records.retention_months, config.records.text) == (24, "digits")
    with pytest.raises(ConfigError, match=r"records\.text: must be one of full, digits, none"):
        parse({"records": {"text": "some"}, "simulator": {"enabled": True}}, "c.yaml")


def test_postgres_needs_a_dsn_and_keeps_content_and_billing_too() -> None:
    with pytest.raises(ConfigError, match=r"store\.dsn: backend postgres needs a DSN"):
        parse({"store": {"backend": "postgres"}, "simulator": {"enabled": True}}, "c.yaml")
    config = parse({"store": {"backend": "postgres", "dsn": "postgresql://u@h/d"},
                    "policy": {"stages": ["lines", "content", "billing"]},
                    "simulator": {"enabled": True}}, "c.yaml")
    assert config.policy.stages[-2:] == ("content", "billing")
