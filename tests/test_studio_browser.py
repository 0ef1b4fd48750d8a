"""fastcolor studio in a real browser: headless Chromium (Debian's ``chromium`` and
``chromium-driver``, driven by selenium; nothing is downloaded at run time) against a live
``fastcolor serve`` on loopback.

With ``FASTCOLOR_WRITE_SCREENSHOT=1`` it also writes docs/studio.png (the README's
screenshot of the page)."""

import base64
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "panel_house.png"

for _path, _package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
    if not os.path.exists(_path):
        pytest.skip(f"the browser test needs Debian's '{_package}' package ({_path} is missing): "
                    f"apt-get install chromium chromium-driver", allow_module_level=True)
pytest.importorskip("selenium", reason="the browser test needs the 'selenium' package "
                                       "(pip install -r requirements.txt)")
pytest.importorskip("uvicorn", reason="fastcolor serve needs the 'uvicorn' package "
                                      "(pip install 'fastcolor[studio]')")

from PIL import Image  # noqa: E402
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

READ_CANVAS = """
const c = document.getElementById('canvas');
const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
let s = '';
for (let i = 0; i < d.length; i += 32768) s += String.fromCharCode.apply(null, d.subarray(i, i + 32768));
return [c.width, c.height, btoa(s)];
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.read()


@pytest.fixture(scope="module")
def server():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "fastcolor", "serve", "--port", str(port)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"fastcolor serve exited: {proc.stdout.read().decode()}")
            try:
                get(base + "/")
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("fastcolor serve did not answer within 60 s")
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def downloads(tmp_path_factory):
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(downloads):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1100,720", "--force-color-profile=srgb",
                "--force-device-scale-factor=1"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.execute_cdp_cmd("Page.setDownloadBehavior",
                           {"behavior": "allow", "downloadPath": str(downloads)})
    yield driver
    driver.quit()


def canvas_pixels(driver) -> np.ndarray:
    w, h, data = driver.execute_script(READ_CANVAS)
    return np.frombuffer(base64.b64decode(data), np.uint8).reshape(h, w, 4)[..., :3]


def wait_for_result(driver, other_than=None, timeout=30) -> str:
    def ready(d):
        rid = d.execute_script("return document.getElementById('canvas').dataset.resultId || null")
        state = d.execute_script("return document.body.dataset.state || ''")
        if state == "error":
            raise AssertionError(d.find_element(By.ID, "status").text)
        return rid if rid and rid != other_than and state == "ready" else False
    return WebDriverWait(driver, timeout).until(ready)


def click_point(regions: np.ndarray) -> tuple[int, int]:
    """The pixel deepest inside its region (farthest from any other region)."""
    import cv2
    edges = np.zeros(regions.shape, np.uint8)
    edges[:-1] |= regions[:-1] != regions[1:]
    edges[:, :-1] |= regions[:, :-1] != regions[:, 1:]
    depth = cv2.distanceTransform((edges == 0).astype(np.uint8), cv2.DIST_L2, 3)
    y, x = np.unravel_index(np.argmax(depth), depth.shape)
    return int(x), int(y)


def test_color_a_page_by_clicking(server, browser, downloads):
    browser.get(server + "/")
    assert browser.title == "fastcolor studio"
    browser.find_element(By.ID, "file").send_keys(str(EXAMPLE))
    first = wait_for_result(browser)
    before = canvas_pixels(browser)
    np.testing.assert_array_equal(before, np.array(Image.open(io.BytesIO(
        get(f"{server}/api/results/{first}.png")))))

    regions = np.array(Image.open(io.BytesIO(get(f"{server}/api/results/{first}/regions.png"))))
    info = json.loads(get(f"{server}/api/results/{first}"))
    x, y = click_point(regions)
    label = regions[y, x]
    color = "#1e90ff" if info["region_colors"][label] != "#1e90ff" else "#ff5722"
    rgb = tuple(int(color[i:i + 2], 16) for i in (1, 3, 5))
    browser.execute_script("const c = document.getElementById('color'); c.value = arguments[0];"
                           "c.dispatchEvent(new Event('input', {bubbles: true}));", color)

    canvas = browser.find_element(By.ID, "canvas")
    rect = browser.execute_script("const r = arguments[0].getBoundingClientRect();"
                                  "return [r.width, r.height];", canvas)
    scale = rect[0] / regions.shape[1]
    ActionChains(browser).move_to_element_with_offset(
        canvas, round((x + 0.5) * scale - rect[0] / 2), round((y + 0.5) * scale - rect[1] / 2)
    ).click().perform()
    second = wait_for_result(browser, other_than=first)
    after = canvas_pixels(browser)

    inside = regions == label
    changed = (after != before).any(axis=2)
    assert changed.any() and not changed[~inside].any(), "pixels outside the region changed"
    old = tuple(int(info["region_colors"][label][i:i + 2], 16) for i in (1, 3, 5))
    paper = inside & (before == old).all(axis=2)      # the region's pixels without ink
    assert paper.sum() > 50
    assert (after[paper] == rgb).all(), "the region's paper is not exactly the color picked"
    assert json.loads(get(f"{server}/api/results/{second}"))["region_colors"][label] == color

    if os.environ.get("FASTCOLOR_WRITE_SCREENSHOT") == "1":
        browser.save_screenshot(str(ROOT / "docs" / "studio.png"))

    browser.find_element(By.ID, "dl-png").click()
    deadline = time.monotonic() + 20
    while not [p for p in downloads.glob("*.png")] and time.monotonic() < deadline:
        time.sleep(0.1)
    files = list(downloads.glob("*.png"))
    assert len(files) == 1, f"no PNG downloaded: {list(downloads.iterdir())}"
    api_png = get(f"{server}/api/results/{second}.png")
    assert files[0].read_bytes() == api_png
    np.testing.assert_array_equal(np.array(Image.open(files[0])), after)

    browser.find_element(By.ID, "undo").click()        # undo: back to the first colors
    wait_for_result(browser, other_than=second)
    np.testing.assert_array_equal(canvas_pixels(browser), before)

    # the figure-colors choice reaches the server: sampled colors, seed 5, as the library
    from fastcolor import Pipeline
    from selenium.webdriver.support.ui import Select
    browser.find_element(By.ID, "seed").send_keys("5")
    Select(browser.find_element(By.ID, "figure-colors")).select_by_value("sample")
    browser.find_element(By.ID, "colorize").click()
    third = wait_for_result(browser, other_than=first)
    np.testing.assert_array_equal(canvas_pixels(browser), Pipeline.from_pretrained()(
        str(EXAMPLE), seed=5, figure_colors="sample").image)
    assert third not in (first, second)
