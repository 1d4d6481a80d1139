"""The web page in a real browser (Debian's chromium, driven by Selenium through
chromedriver) against the real service: redis-server, a `krotos worker`, the
Flask app over HTTP, the SoundCloud stand-in serving real audio."""

import os
import shutil
import tempfile
import uuid

import pytest
import requests

from conftest import RedisServer, make_standin, serving, start_worker, stop_worker, wait_healthy

from krotos.service.app import create_app
from krotos.service.config import ServiceConfig

# Starts redis-server, a worker, the app and a headless chromium.
pytestmark = pytest.mark.slow

TOKEN = "page-s3cret"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("Debian's chromium and chromium-driver are not installed (apt-get install "
                    "chromium chromium-driver; .ci/run installs them)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="krotos-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--window-size=1100,1400",
                 f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def service(browser, tmp_path_factory):
    redis_server = RedisServer(tmp_path_factory.mktemp("redis"))
    standin = make_standin()
    queue = f"krotos-page-{uuid.uuid4().hex[:6]}"
    config = ServiceConfig(redis_url=redis_server.url, queue=queue, allow=("127.0.0.1",),
                           api_token=TOKEN, max_likes=4)
    proc = None
    try:
        with serving(create_app(config)) as base:
            proc = start_worker(redis_server.url, queue, standin,
                                tmp_path_factory.mktemp("worker"), config.max_upload_bytes)
            wait_healthy(base, proc)
            yield base
    finally:
        if proc is not None:
            stop_worker(proc)
        standin.close()
        redis_server.stop()


def _wait(browser, css, timeout=90):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, timeout).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, css)))


def _compare(browser, base, user_a, user_b):
    from selenium.webdriver.common.by import By

    browser.get(f"{base}/")
    if "/login" in browser.current_url:  # asked once per browser session
        browser.find_element(By.ID, "token").send_keys(TOKEN)
        browser.find_element(By.ID, "login").click()
        _wait(browser, "#user_a")
    for field, value in (("user_a", user_a), ("user_b", user_b)):
        box = browser.find_element(By.ID, field)
        box.clear()
        box.send_keys(value)
    browser.execute_script("window.krotosOldPage = true;")
    browser.find_element(By.ID, "compare").click()
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    # A marker on the old page rather than the button's staleness: asking chromium about an
    # element of a page being replaced can fail with "unhandled inspector error", so such
    # errors only mean "not yet". The next page may be a job page or the form again.
    WebDriverWait(browser, 30, ignored_exceptions=(WebDriverException,)).until(
        lambda b: b.execute_script("return window.krotosOldPage === undefined"
                                   " && document.readyState === 'complete';"),
        "the form did not lead to a new page")


def test_a_person_compares_two_profiles_and_sees_what_the_api_says(browser, service, tmp_path):
    from selenium.webdriver.common.by import By

    _compare(browser, service, "alice", "https://soundcloud.com/bob")
    assert "/jobs/" in browser.current_url
    score = _wait(browser, "#score")
    job_id = browser.current_url.rstrip("/").rsplit("/", 1)[1]
    assert TOKEN not in browser.current_url
    api = requests.get(f"{service}/v1/jobs/{job_id}",
                       headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert api["status"] == "finished", api
    assert float(score.get_attribute("data-score")) == pytest.approx(api["result"]["score"])
    assert score.text == f"{api['result']['score'] * 100:.0f}%"
    shown = [e.get_attribute("data-tag") for e in browser.find_elements(By.CSS_SELECTOR,
                                                                         ".shared-tag")]
    assert shown == [t["tag"] for t in api["result"]["shared_tags"]] and shown
    page = browser.find_element(By.TAG_NAME, "main").text
    assert "Blocked" in page and "not streamable" in page  # bob's skipped track, with why
    assert "Vibe Ace" in page                              # a closest pair
    shot = tmp_path / "result-page.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    if os.environ.get("KROTOS_SCREENSHOT"):  # how docs/service-page.png is made
        shutil.copy(shot, os.environ["KROTOS_SCREENSHOT"])


def test_an_unknown_user_gives_a_readable_message(browser, service):
    _compare(browser, service, "nobody-here", "alice")
    message = _wait(browser, "#error-message")
    assert message.get_attribute("data-code") == "soundcloud_user_not_found"
    assert "'nobody-here' does not exist" in message.text


def test_soundcloud_text_is_shown_as_text(browser, service):
    from selenium.webdriver.common.by import By

    _compare(browser, service, "xss", "dave")
    _wait(browser, "#score")
    assert browser.title != "pwned"
    assert '<script>document.title="pwned"</script>' in browser.find_element(
        By.TAG_NAME, "main").text


def test_an_empty_form_is_a_form_error(browser, service):
    from selenium.webdriver.common.by import By

    _compare(browser, service, "", "")
    assert "/jobs/" not in browser.current_url
    assert "Give two SoundCloud profiles" in _wait(browser, "#form-error").text
    _compare(browser, service, "alice", "https://example.com/bob")
    assert "neither a SoundCloud" in browser.find_element(By.ID, "form-error").text
