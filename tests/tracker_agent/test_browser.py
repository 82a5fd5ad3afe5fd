"""The monitoring page in a real headless Chromium: sign in, see the colours, filter, take a screenshot."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import require_binary
from tests.tracker_agent.conftest import publish_file
from tracker import services

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output"
pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

COLOURS = {  # static/syncsite/site.css
    "synced": "rgba(46, 157, 87, 1)",
    "outdated": "rgba(224, 178, 26, 1)",
    "syncing": "rgba(49, 120, 224, 1)",
    "error": "rgba(210, 59, 59, 1)",
    "unwanted": "rgba(183, 188, 198, 1)",
}


@pytest.fixture
def browser():
    chromium = require_binary("chromium", "/usr/bin/chromium")
    chromedriver = require_binary("chromedriver", "/usr/bin/chromedriver")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1500,1000",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def test_monitoring_page_in_chromium(browser, live_server, admin_user, make_site):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    wait = WebDriverWait(browser, 30)

    a = make_site("A", enableReception=False)
    make_site("B")
    make_site("C")
    for name in ("synced", "outdated", "syncing", "error"):
        publish_file(a, f"/show/{name}.exr")
    publish_file(a, "/show/unwanted.exr", syncEverywhere=False, sync_C=True)
    services.mark_synced("/show/synced.exr", "B")
    services.mark_synced("/show/outdated.exr", "B", when=1)
    services.mark_syncing("/show/syncing.exr", "B")
    services.mark_error("/show/error.exr", "B", 23, "rsync: link_stat failed")
    services.update_volume("B", {"agentStatus": "on", "agentVersion": "1.0.0"})

    browser.get(live_server.url + "/tracker/")
    assert "/accounts/login/" in browser.current_url
    browser.find_element(By.NAME, "username").send_keys("admin")
    browser.find_element(By.NAME, "password").send_keys("admin-pass-1234")
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait.until(ec.presence_of_element_located((By.ID, "files")))
    assert browser.current_url.rstrip("/").endswith("/tracker")

    def cell(path: str, site: str):
        return browser.find_element(By.CSS_SELECTOR, f'tr[data-path="{path}"] span.state[data-site="{site}"]')

    for name, colour in COLOURS.items():
        span = cell(f"/show/{name}.exr", "B")
        assert f"state-{name}" in span.get_attribute("class")
        assert span.value_of_css_property("background-color") == colour, name
    assert "exit code 23" in cell("/show/error.exr", "B").get_attribute("title")
    assert browser.find_element(By.CSS_SELECTOR, 'tr[data-site="B"] td.agent-on').text.startswith("on")

    Select(browser.find_element(By.NAME, "site")).select_by_value("B")
    Select(browser.find_element(By.NAME, "state")).select_by_value("error")
    browser.find_element(By.CSS_SELECTOR, "#filters button[type=submit]").click()
    wait.until(ec.url_contains("state=error"))
    wait.until(ec.presence_of_element_located((By.ID, "files")))
    rows = browser.find_elements(By.CSS_SELECTOR, "#files tr[data-path]")
    assert [r.get_attribute("data-path") for r in rows] == ["/show/error.exr"]
    assert "state=error" in browser.current_url

    browser.get(live_server.url + "/tracker/?prefix=/show/")
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, 'tr[data-path="/show/error.exr"]')))
    OUTPUT.mkdir(exist_ok=True)
    shot = OUTPUT / "tracker_monitoring.png"
    assert browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000

    browser.find_element(By.LINK_TEXT, "/show/error.exr").click()
    wait.until(ec.presence_of_element_located((By.ID, "history")))
    history = browser.find_elements(By.CSS_SELECTOR, "#history tr[data-child]")
    assert history and "new" in history[0].text
