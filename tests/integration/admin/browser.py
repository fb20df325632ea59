"""Headless Chromium from Debian's packages (``chromium``, ``chromium-driver``), driven by
selenium; tests/run.sh installs both where they are missing.  Nothing downloads a browser:
selenium is pointed at the system binaries, never its own manager."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

BINARIES = ("chromium", "chromedriver")


def missing() -> str | None:
    """Why the browser test cannot run here (None when it can)."""
    absent = [name for name in BINARIES if shutil.which(name) is None]
    if absent:
        return (f"{' and '.join(absent)} not installed (Debian: apt-get install chromium "
                "chromium-driver; tests/run.sh does it as root)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium not installed (dev extras)"
    return None


@contextmanager
def chromium(downloads: Path) -> Iterator[Any]:
    reason = missing()
    if reason is not None:
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(shutil.which("chromium"))
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                 "--disable-gpu", "--window-size=1280,1500", "--no-first-run",
                 "--disable-extensions", f"--user-data-dir={downloads / 'profile'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=str(shutil.which("chromedriver")),
                      log_output=os.devnull)
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    except Exception:
        # what the page showed and said, for the failure report
        driver.save_screenshot(str(downloads / "failure.png"))
        for entry in driver.get_log("browser"):
            print("browser:", entry.get("level"), entry.get("message"))
        print("page text:", driver.find_element("tag name", "body").text[:2000])
        raise
    finally:
        driver.quit()


def non_blank(png: Path) -> tuple[float, int]:
    """(standard deviation of the grey levels, distinct colours) of a screenshot."""
    from PIL import Image, ImageStat

    with Image.open(png) as image:
        rgb = image.convert("RGB")
        grey = ImageStat.Stat(rgb.convert("L")).stddev[0]
        colours = len(rgb.getcolors(maxcolors=1 << 20) or [])
    return grey, colours
