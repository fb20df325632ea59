"""The web console in headless Chromium against a real ``chapar run``: sign in with the
token (asked once, kept for the tab), see the live session of a running smpplib client
and its rate, release a quarantined message, explain a refusal; the screenshot is checked
to be more than a blank page."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clients import Esme
from tests.conftest import LINES, RouterProcess
from tests.integration.admin.browser import chromium, missing, non_blank
from tests.integration.admin.support import TOKEN, admin_port, call

pytestmark = pytest.mark.skipif(missing() is not None, reason=str(missing()))
SOURCE = LINES["esme1"][0]
FOREIGN = LINES["esme2"][0]
PRIZE = "تبریک! شما برنده جایزه شدید".encode("utf-16-be")  # quarantined by the rules
WAIT = 15.0


class Traffic:
    """An smpplib client sending ~20 submits a second on its own thread until stopped;
    every fifth from a line of another account (refused: ``not_own_line``)."""

    def __init__(self, esme: Esme) -> None:
        self.esme = esme
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        sent = 0
        while not self.stop.is_set():
            source = FOREIGN if sent % 5 == 4 else SOURCE
            self.esme.send(source, f"98912{sent % 100000:07d}", b"console test")
            sent += 1
            self.esme.pump(lambda n=sent: len(self.esme.responses) >= n, timeout=5.0)
            time.sleep(0.05)


@pytest.fixture
def busy_router(make_router: Callable[..., RouterProcess]
                ) -> Iterator[tuple[RouterProcess, int, str, Traffic]]:
    router = make_router(admin={"token": TOKEN}, policy={"stages": ["lines", "content"]})
    esme = Esme(router.port)
    assert esme.bind().status == 0
    held = esme.send(SOURCE, "989121000003", PRIZE, data_coding=8)
    esme.pump(lambda: held in esme.responses)
    message_id = esme.responses[held].message_id
    message_id = message_id.decode() if isinstance(message_id, bytes) else message_id
    traffic = Traffic(esme)
    traffic.thread.start()
    try:
        yield router, admin_port(router.events()), message_id, traffic
    finally:
        traffic.stop.set()
        traffic.thread.join(10)
        esme.close()


def wait_for(driver: Any, what: Callable[[Any], Any], message: str) -> Any:
    """Poll until ``what`` gives something; the console re-renders its tables every
    second, so an element found a moment ago may be gone (stale): look again."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT, poll_frequency=0.2,
                         ignored_exceptions=(StaleElementReferenceException,)
                         ).until(what, message)


def test_console_live_session_release_and_explain(
        busy_router: tuple[RouterProcess, int, str, Traffic], tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    router, port, message_id, traffic = busy_router
    with chromium(tmp_path) as driver:
        driver.get(f"http://127.0.0.1:{port}/")  # redirects to /console/
        field = wait_for(driver, lambda d: d.find_element(By.ID, "token").is_displayed()
                         and d.find_element(By.ID, "token"), "no login form")
        field.send_keys("wrong-token")
        driver.find_element(By.CSS_SELECTOR, "#login button").click()
        wait_for(driver, lambda d: d.find_element(By.ID, "login-error").text == "wrong token",
                 "a wrong token was not refused")

        field.send_keys(TOKEN)
        driver.find_element(By.CSS_SELECTOR, "#login button").click()
        def session_row(d: Any) -> str | None:
            rows = d.find_elements(By.CSS_SELECTOR, "#sessions tbody tr[data-account='esme1']")
            return rows[0].text if rows else None

        assert "BOUND_TRX" in wait_for(driver, session_row, "no live session")
        assert not driver.find_element(By.ID, "login").is_displayed()

        def rate(d: Any) -> float | None:
            cells = d.find_elements(By.CSS_SELECTOR,
                                    "#sessions tbody tr[data-account='esme1'] td.rate")
            text = cells[0].text if cells else "–"
            value = float(text) if text not in ("", "–") else 0.0
            return value if value > 2.0 else None

        shown_rate = wait_for(driver, rate, "the session's rate never showed")
        assert shown_rate < 60.0  # the client sends ~20/s at most (~16/s accepted)
        assert driver.execute_script("return sessionStorage.getItem('chapar.token')") == TOKEN

        def release(d: Any) -> bool:
            """The held message's row shows its category; click its Release (one call,
            so a re-render in between cannot leave a stale row)."""
            rows = d.find_elements(By.CSS_SELECTOR,
                                   f"#quarantine tbody tr[data-id='{message_id}']")
            if not rows or "fake_prizes_jobs" not in rows[0].text:
                return False
            rows[0].find_element(By.XPATH, ".//button[text()='Release']").click()
            return True

        wait_for(driver, release, "the quarantined message is not listed")
        wait_for(driver, lambda d: d.find_element(By.ID, "quarantine-decided").text
                 == f"{message_id} released", "release not confirmed")
        status, body = call(port, "GET", "/api/quarantine?state=released")
        assert status == 200 and [m["id"] for m in body["messages"]] == [message_id]
        assert router.wait_event("quarantine_applied")["released"] == 1

        form = driver.find_element(By.ID, "explain")
        for name, value in (("account", "esme1"), ("line", LINES["esme2"][0]),
                            ("destination", "989121234567"), ("text", "hello")):
            form.find_element(By.NAME, name).send_keys(value)
        form.find_element(By.TAG_NAME, "button").click()
        verdict = wait_for(driver, lambda d: d.find_elements(By.ID, "explain-verdict"),
                           "no explain verdict")
        assert verdict[0].text.startswith("refuse"), verdict[0].text
        assert "fail" in driver.find_element(By.ID, "explain-result").text

        wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#upstreams td.up"),
                 "the simulator upstream is not shown bound")
        wait_for(driver, lambda d: "not_own_line" in d.find_element(By.ID, "refusals").text,
                 "the refusals by reason do not show the traffic's refusals")
        shot = Path(os.environ.get("CHAPAR_SCREENSHOT_DIR", tmp_path)) / "console.png"
        driver.save_screenshot(str(shot))
    grey_stddev, colours = non_blank(shot)
    assert grey_stddev > 10 and colours > 50, (grey_stddev, colours)
    assert not traffic.stop.is_set()
