"""Headless Chromium (Debian's chromium, driven through its chromedriver) for tests that
look at the Airflow UI as a person does, and where their screenshots go:
``var/screenshots/`` (``PRESERVATION_SCREENSHOTS``)."""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCREENSHOTS = Path(os.environ.get("PRESERVATION_SCREENSHOTS", REPO / "var" / "screenshots"))


@contextmanager
def chromium(profile: Path) -> Iterator[object]:
    """A headless Chromium window of 1440×1000 with its own profile folder."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1440,1000",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()


def api_token(api_url: str, username: str, password: str) -> str:
    """A token from Airflow's login endpoint, as its login form gets one."""
    request = urllib.request.Request(
        f"{api_url}/auth/token",
        data=json.dumps({"username": username, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())["access_token"]


def log_in(driver, api_url: str, username: str, password: str) -> None:
    """Signed in (the session cookie the login form sets)."""
    driver.get(f"{api_url}/api/v2/version")  # any page of the site, to set its cookie on
    driver.add_cookie(
        {"name": "_token", "value": api_token(api_url, username, password), "path": "/"}
    )


def shoot(driver, name: str) -> Path:
    """Save what the window shows as ``<name>.png`` under the screenshots folder."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path
