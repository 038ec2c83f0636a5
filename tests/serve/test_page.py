"""The web page in a real headless Chromium (Debian ``chromium`` + ``chromium-driver``)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest

webdriver = pytest.importorskip("selenium.webdriver", reason="the page test needs selenium")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (CHROMIUM and DRIVER):
        pytest.skip(
            "no headless browser: install Debian's chromium and chromium-driver "
            "(apt-get install -y chromium chromium-driver)"
        )
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path_factory.mktemp("downloads")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1280,900",
        f"--user-data-dir={tmp_path_factory.mktemp('chrome-profile')}",
    ):
        opts.add_argument(flag)
    opts.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    driver.execute_cdp_cmd(
        "Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    driver.downloads = downloads
    yield driver
    driver.quit()


def status(driver) -> str:
    return driver.find_element(By.ID, "status").text


def dark_pixels(driver) -> int:
    """Pixels of the canvas darker than the paper and its red grid: the ECG trace."""
    return driver.execute_script("""
        const c = document.getElementById('paper');
        if (!c.width) return 0;
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4) {
          if (d[i + 3] > 200 && d[i] < 90 && d[i + 1] < 90 && d[i + 2] < 90) n++;
        }
        return n;""")


def test_page_generates_draws_and_downloads(browser, server, tmp_path):
    browser.get(server + "/")
    WebDriverWait(browser, 20).until(lambda d: status(d).startswith("Ready"))
    assert dark_pixels(browser) == 0
    Select(browser.find_element(By.ID, "model")).select_by_value("gan-subject")
    assert browser.find_element(By.ID, "subject-label").is_displayed()
    Select(browser.find_element(By.ID, "class")).select_by_value("N")
    Select(browser.find_element(By.ID, "subject")).select_by_value("101")
    for field, value in (("n", "6"), ("seed", "42")):
        browser.find_element(By.ID, field).clear()
        browser.find_element(By.ID, field).send_keys(value)
    browser.find_element(By.ID, "generate").click()
    WebDriverWait(browser, 30).until(lambda d: status(d).startswith(("Done", "Error")))
    assert status(browser).startswith("Done"), status(browser)
    assert "6 segment(s) from gan-subject" in browser.find_element(By.ID, "summary").text

    canvas = browser.find_element(By.ID, "paper")
    assert canvas.get_attribute("data-drawn") == "6"
    assert dark_pixels(browser) > 500
    # Paper scale: each cell is whole 5 mm squares at 96/25.4 CSS px per mm; the 0.711 s
    # window takes 17.8 mm, so a cell is 25 mm wide: 6 cells side by side = 150 mm.
    width_px = browser.execute_script(
        "return parseFloat(document.getElementById('paper').style.width)"
    )
    assert width_px == pytest.approx(150 * 96 / 25.4, abs=1)
    browser.save_screenshot(str(tmp_path / "page.png"))

    browser.find_element(By.CSS_SELECTOR, "button[data-format='npy']").click()
    target = browser.downloads / "signals.npy"
    deadline = time.monotonic() + 20
    while not target.is_file() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert target.is_file(), f"no download in {list(browser.downloads.iterdir())}"
    got = np.load(target)
    import httpx

    want = httpx.post(
        server + "/generate",
        json={
            "model": "gan-subject",
            "n": 6,
            "seed": 42,
            "class": "N",
            "subject": "101",
            "format": "npy",
        },
    ).content
    np.testing.assert_array_equal(got, np.load(__import__("io").BytesIO(want)))


def test_page_shows_the_rr_generated_with_the_beats(browser, server):
    browser.get(server + "/")
    WebDriverWait(browser, 20).until(lambda d: status(d).startswith("Ready"))
    Select(browser.find_element(By.ID, "model")).select_by_value("wgan_gp-rr")
    Select(browser.find_element(By.ID, "class")).select_by_value("V")
    browser.find_element(By.ID, "generate").click()
    WebDriverWait(browser, 30).until(lambda d: status(d).startswith(("Done", "Error")))
    assert status(browser).startswith("Done"), status(browser)
    summary = browser.find_element(By.ID, "summary").text
    assert summary.startswith("8 segment(s) from wgan_gp-rr"), summary  # the form's defaults
    import httpx

    rr = httpx.post(
        server + "/generate", json={"model": "wgan_gp-rr", "class": "V", "n": 8, "seed": 0}
    ).json()["rr"]
    median = sorted(r[0] for r in rr)[len(rr) // 2]
    assert f"RR before the beat (median): V {median:.2f} s" in summary


def test_page_shows_api_errors(browser, server):
    browser.get(server + "/")
    WebDriverWait(browser, 20).until(lambda d: status(d).startswith("Ready"))
    Select(browser.find_element(By.ID, "model")).select_by_value("wgan_gp-simulated")
    n = browser.find_element(By.ID, "n")
    browser.execute_script("arguments[0].removeAttribute('max')", n)  # bypass the form's own check
    n.clear()
    n.send_keys("999999")
    browser.find_element(By.ID, "generate").click()
    WebDriverWait(browser, 20).until(lambda d: status(d).startswith(("Done", "Error")))
    assert "limit of 2000" in status(browser)
    assert not browser.find_element(By.ID, "subject-label").is_displayed()


def test_page_uses_no_network_resources():
    static = Path(__file__).resolve().parents[2] / "ecg_synth" / "serve" / "static"
    for f in static.iterdir():
        text = f.read_text()
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, f.name
