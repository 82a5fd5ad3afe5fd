"""The site in a real headless Chromium: sign in, filter hosts by a label, open a host and see its computed
attributes and matched rules, lock and comment a file, follow every navigation link, and load the API docs with
the outside network cut off (nothing but the site itself may be asked, read from the browser's performance log).

One browser for the session. Chromium's proxy points at a closed port and only the live server bypasses it, so
any request leaving the site fails (and shows in the log). Screenshots of each page go to test-output/.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import require_binary
from tests.tracker_agent.conftest import make_site, publish_file  # noqa: F401 - fixture

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output"
pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="session")
def offline_browser():
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
        # the network is off: every request goes to a closed proxy, except those to the live server
        "--proxy-server=http://127.0.0.1:9",
        "--proxy-bypass-list=127.0.0.1;localhost",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def requested_urls(browser) -> list[str]:
    """Every URL the browser asked for since the log was last read (Network.requestWillBeSent events)."""
    urls = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


@pytest.fixture
def site_data(make_site, admin_user):  # noqa: F811
    from hosts.models import Account, CustomAttributeOutcome, CustomAttributeRule, Host

    paris = Account.objects.create(name="paris-csv", type="csv")
    Host.objects.create(hostname="web01", labels={"site": "paris", "role": "web"}, account=paris)
    Host.objects.create(hostname="web02", labels={"site": "lyon", "role": "web"}, account=paris)
    Host.objects.create(hostname="db01", labels={"site": "paris", "role": "db"}, account=paris)
    rule = CustomAttributeRule.objects.create(name="web gets http checks", condition_type="anyway")
    CustomAttributeOutcome.objects.create(rule=rule, attribute="monitoring", value="http")
    a = make_site("A", enableReception=False)
    make_site("B")
    publish_file(a, "/show/edit.mov", file_size=5 * 1024 * 1024)


def test_site_in_chromium(offline_browser, live_server, site_data):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from tracker import services

    browser, base = offline_browser, live_server.url
    wait = WebDriverWait(browser, 40)  # generous: a busy CI machine, not the page, sets the pace
    OUTPUT.mkdir(exist_ok=True)

    def shot(name: str) -> None:
        assert browser.save_screenshot(str(OUTPUT / f"site_{name}.png"))

    browser.get(base + "/hosts/")
    assert "/accounts/login/" in browser.current_url
    browser.find_element(By.NAME, "username").send_keys("admin")
    browser.find_element(By.NAME, "password").send_keys("admin-pass-1234")
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait.until(ec.presence_of_element_located((By.ID, "host-filters")))

    # filter hosts by a label: the form builds the bookmarkable URL
    browser.find_element(By.ID, "f-label-1").send_keys("site=paris")
    browser.find_element(By.CSS_SELECTOR, "#host-filters button[type=submit]").click()
    wait.until(ec.url_contains("label=site%3Dparis"))
    rows = browser.find_elements(By.CSS_SELECTOR, "#hosts tr[data-host]")
    assert [r.get_attribute("data-host") for r in rows] == ["db01", "web01"]
    shot("hosts_filtered")

    # open a host: computed attributes and the rule that matched, with what it changed
    browser.find_element(By.LINK_TEXT, "web01").click()
    wait.until(ec.presence_of_element_located((By.ID, "attributes")))
    assert "monitoring" in browser.find_element(By.ID, "attributes").text
    matched = browser.find_element(By.CSS_SELECTOR, '#rules tr[data-rule="web gets http checks"]')
    assert matched.get_attribute("data-hit") == "1" and "monitoring: http" in matched.text
    shot("host_detail")

    # lock and comment a file
    browser.get(base + "/tracker/file/?id=/show/edit.mov")
    wait.until(ec.element_to_be_clickable((By.ID, "lock"))).click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "file-lock"), "locked by admin"))
    browser.find_element(By.ID, "comment").send_keys("colour pass approved")
    browser.find_element(By.CSS_SELECTOR, "#comment-form button[type=submit]").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "history"), "colour pass approved"))
    assert "5.0 MiB" in browser.find_element(By.ID, "file-size").text
    assert services.read_nodes(["/show/edit.mov"])[0]["lock"] == "admin"
    shot("file_page")

    # every navigation link answers (no 404), in the site's layout
    browser.get(base + "/")
    links = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, 'nav[aria-label="Main"] a')]
    assert len(links) >= 7
    for link in links:
        browser.get(link)
        path = urlsplit(link).path
        if path.startswith("/api/"):
            continue
        wait.until(ec.presence_of_element_located((By.TAG_NAME, "h1")))
        # read in one step: a live page may swap its content in between two WebDriver calls
        heading = browser.execute_script("return document.querySelector('h1').textContent")
        assert "not found" not in heading.lower() and "server error" not in heading.lower(), link
        shot("nav_" + (path.strip("/").replace("/", "_") or "dashboard"))

    # the API docs with the network off: Swagger UI renders from the site's own files, nothing else is asked
    requested_urls(browser)  # forget what came before
    browser.get(base + "/api/docs/")
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".swagger-ui .info .title")))
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".swagger-ui .opblock")))
    assert "Syncsite API" in browser.find_element(By.CSS_SELECTOR, ".swagger-ui .info .title").text
    shot("api_docs")
    urls = requested_urls(browser)
    assert any("/api/schema/" in u for u in urls) and any("drf_spectacular_sidecar" in u for u in urls)
    outside = [u for u in urls if not u.startswith(base) and not u.startswith(("data:", "blob:"))]
    assert outside == []
