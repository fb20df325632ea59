"""The content filter end to end (issue 13, "Done when"): real ``chapar run`` processes,
real TCP, smpplib as the ESME, the shipped starter rules.

requirements.md §3: "On clearly forbidden content the platform must stop transmission at
once and report ... Held messages are released or rejected from the admin interface".
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from router.store.quarantine import QuarantineStore
from tests.clients import Esme
from tests.conftest import LINES, RouterProcess

CONTENT_REJECTED = 0x0406
SOURCE = LINES["esme1"][0]
CONTENT = {"stages": ["lines", "content"]}


def _ucs2(text: str) -> bytes:
    return text.encode("utf-16-be")


def test_forbidden_persian_phrase_with_evasions_is_refused(
        make_router: Callable[..., RouterProcess]) -> None:
    """requirements.md §3: a forbidden Persian phrase with ZWNJ and Arabic letter forms
    inserted is refused with its status; a clean text is accepted."""
    router = make_router(policy=CONTENT)
    esme = Esme(router.port)
    esme.bind()
    evasive = "فردا دعوت به ت\u200cجمّع مي\u200cكنيم"  # ZWNJ, shadda, Arabic yeh and kaf
    refused = esme.send(SOURCE, "989121000001", _ucs2(evasive), data_coding=8)
    clean = esme.send(SOURCE, "989121000002", _ucs2("سلام، سفارش شما ارسال شد"),
                      data_coding=8)
    esme.pump(lambda: len(esme.responses) == 2)
    assert esme.responses[refused].status == CONTENT_REJECTED
    assert esme.responses[clean].status == 0
    esme.client.disconnect()


def test_quarantined_message_survives_restart_and_is_released(
        make_router: Callable[..., RouterProcess], tmp_path: Path) -> None:
    """requirements.md §3: a held message is answered ESME_ROK once journalled, kept
    across a restart, and released by an operator to the carrier."""
    router = make_router(policy=CONTENT)
    esme = Esme(router.port)
    esme.bind()
    sequence = esme.send(SOURCE, "989121000003", _ucs2("تبریک! شما برنده جایزه شدید"),
                         data_coding=8)
    esme.pump(lambda: sequence in esme.responses)
    assert esme.responses[sequence].status == 0
    message_id = esme.responses[sequence].message_id
    message_id = message_id.decode() if isinstance(message_id, bytes) else message_id
    esme.client.disconnect()
    assert router.stop() == 0
    router.start()
    store = QuarantineStore(tmp_path / "var" / "chapar.db")
    held = store.held()
    store.close()
    assert [f"{h.message_id:x}" for h in held] == [message_id]
    assert held[0].category == "fake_prizes_jobs"
    cli = [sys.executable, "-m", "router.cli", "quarantine"]
    config = ["--config", str(tmp_path / "chapar.yaml")]
    listing = subprocess.run([*cli, "list", *config], capture_output=True, text=True,
                             cwd=tmp_path, check=True)
    assert message_id in listing.stdout
    subprocess.run([*cli, "release", message_id, *config], cwd=tmp_path, check=True)
    applied = router.wait_event("quarantine_applied")
    assert applied["released"] == 1
    again = subprocess.run([*cli, "release", message_id, *config], capture_output=True,
                           text=True, cwd=tmp_path)
    assert again.returncode == 2 and "is not held" in again.stderr


def test_chinese_message_without_registered_signature_is_refused(
        make_router: Callable[..., RouterProcess]) -> None:
    """Seed 004 (domain.md §(c)): every Chinese text carries a 【signature】 the account
    registered; without one it is refused 0x0407, with another 0x0408; a registered one
    with the opt-out suffix on a marketing line is accepted."""
    router = make_router(policy={
        "stages": ["lines", "content", "chinese"],
        "chinese": {"signatures": [{"account": "esme1", "signatures": ["阿里云"]}],
                    "marketing_windows": [{"hours": "00:00-24:00"}]}})
    esme = Esme(router.port)
    esme.bind()
    missing = esme.send(SOURCE, "989121000005", _ucs2("您的订单已发货"), data_coding=8)
    other = esme.send(SOURCE, "989121000006", _ucs2("【某公司】您的订单已发货"), data_coding=8)
    good = esme.send(SOURCE, "989121000007", _ucs2("【阿里云】您的订单已发货 回T退订"),
                     data_coding=8)
    esme.pump(lambda: len(esme.responses) == 3)
    assert esme.responses[missing].status == 0x0407
    assert esme.responses[other].status == 0x0408
    assert esme.responses[good].status == 0
    esme.client.disconnect()


def test_a_rule_file_changed_while_running_applies_without_a_restart(
        make_router: Callable[..., RouterProcess], tmp_path: Path) -> None:
    """requirements.md §3 (issue 13 item 3): a rule file written while the router runs is
    compiled in a child process and swapped in: the next submit is judged by it."""
    folder = tmp_path / "content"
    shutil.copytree(Path(__file__).resolve().parents[3] / "config" / "content", folder)
    router = make_router(policy={**CONTENT, "content_dir": str(folder)})
    esme = Esme(router.port)
    esme.bind()
    first = esme.send(SOURCE, "989121000004", b"zebra crossing")
    esme.pump(lambda: first in esme.responses)
    assert esme.responses[first].status == 0
    (folder / "zz_zoo.yaml").write_text("name: zoo\naction: reject\nphrases: [zebra]\n",
                                        encoding="utf-8")
    loaded = router.wait_event("content_rules_loaded", timeout=30,
                               where=lambda e: "reload_s" in e)
    assert loaded["categories"] == len(list(folder.glob("*.yaml")))
    second = esme.send(SOURCE, "989121000005", b"zebra crossing")
    esme.pump(lambda: second in esme.responses)
    assert esme.responses[second].status == CONTENT_REJECTED
    esme.client.disconnect()
