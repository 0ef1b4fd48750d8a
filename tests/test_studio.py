"""fastcolor studio's API (``fastcolor.studio``) through the ASGI test client: every
endpoint, bad inputs, the bounded store and the full work queue."""

import io
import struct
import threading
import time
import zlib

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the studio needs fastapi (pip install 'fastcolor[studio]')")
pytest.importorskip("multipart", reason="the studio needs python-multipart")
pytest.importorskip("httpx2", reason="the ASGI test client needs httpx2")

from fastapi.testclient import TestClient  # noqa: E402
from PIL import Image  # noqa: E402

import fastcolor  # noqa: E402
from fastcolor.flats import compose, paint_regions  # noqa: E402
from fastcolor.studio import ResultStore, StoredResult, create_app  # noqa: E402

EXAMPLE = "examples/panel_house.png"


@pytest.fixture(scope="module")
def pipe():
    return fastcolor.Pipeline.from_pretrained()


@pytest.fixture(scope="module")
def client(pipe):
    with TestClient(create_app(pipe, max_bytes=4 << 20)) as c:     # one event loop
        yield c


@pytest.fixture(scope="module")
def page_bytes():
    with open(EXAMPLE, "rb") as f:
        return f.read()


@pytest.fixture(scope="module")
def colored(client, page_bytes):
    r = client.post("/api/colorize", files={"file": ("house.png", page_bytes, "image/png")},
                    data={"seed": "3", "samples": "2"})
    assert r.status_code == 200, r.text
    return r.json()


def png_header(width, height):
    """A PNG that is only a header claiming ``width x height`` pixels."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IEND", b""))


def png(array):
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def decode(content):
    return np.array(Image.open(io.BytesIO(content)))


def post_page(client, data, ctype="image/png", **fields):
    return client.post("/api/colorize", files={"file": ("page.png", data, ctype)}, data=fields)


# ---- endpoints ----------------------------------------------------------------------------
def test_colorize_matches_the_library(client, colored, pipe):
    results = pipe(EXAMPLE, seed=3, samples=2)
    assert colored["width"] == 384 and colored["height"] == 288 and colored["flats"]
    assert len(colored["variants"]) == 2 and colored["variants"][0] == colored["id"]
    for vid, result in zip(colored["variants"], results):
        info = client.get(f"/api/results/{vid}").json()
        assert info["regions"] == len(result.region_colors)
        assert info["region_colors"] == ["#%02x%02x%02x" % tuple(c) for c in result.region_colors]
        assert info["background_color"] == "#%02x%02x%02x" % result.background_color
        r = client.get(f"/api/results/{vid}.png")
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        np.testing.assert_array_equal(decode(r.content), result.image)
        flats = client.get(f"/api/results/{vid}/flats.png")
        np.testing.assert_array_equal(decode(flats.content), result.flats)
        regions = client.get(f"/api/results/{vid}/regions.png")
        np.testing.assert_array_equal(decode(regions.content), result.regions)


def test_recolor_changes_exactly_the_clicked_regions(client, colored, pipe):
    result = pipe(EXAMPLE, seed=3)
    rid = colored["id"]
    (x1, y1), (x2, y2) = (200, 150), (40, 40)
    label1, label2 = result.regions[y1, x1], result.regions[y2, x2]
    assert label1 != label2
    where = client.get(f"/api/results/{rid}/region", params={"x": x1, "y": y1}).json()
    assert where["region"] == label1
    r = client.post(f"/api/results/{rid}/recolor",
                    json={"points": [[x1, y1], [x2, y2]], "colors": ["#ff0000", "0,0,255"]})
    assert r.status_code == 200, r.text
    new = r.json()
    assert new["id"] not in (rid, *colored["variants"])
    palette = result.region_colors.copy()
    palette[label1], palette[label2] = (255, 0, 0), (0, 0, 255)
    expected = compose(paint_regions(result.regions, palette), result.outline)
    got = decode(client.get(f"/api/results/{new['id']}.png").content)
    np.testing.assert_array_equal(got, expected)
    assert new["region_colors"][label1] == "#ff0000"
    # the first result is unchanged (undo goes back to it)
    np.testing.assert_array_equal(decode(client.get(f"/api/results/{rid}.png").content),
                                  result.image)


def test_recolor_background(client, colored, pipe):
    result = pipe(EXAMPLE, seed=3)
    assert result.background_mask.any()
    r = client.post(f"/api/results/{colored['id']}/recolor", json={"background": "#102030"})
    assert r.status_code == 200 and r.json()["background_color"] == "#102030"
    got = decode(client.get(f"/api/results/{r.json()['id']}/flats.png").content)
    assert (got[result.background_mask] == (16, 32, 48)).all()
    np.testing.assert_array_equal(got[~result.background_mask], result.flats[~result.background_mask])


@pytest.mark.parametrize("fmt, magic", [("psd", b"8BPS"), ("ora", b"PK")])
def test_layered_downloads(client, colored, fmt, magic):
    r = client.get(f"/api/results/{colored['id']}.{fmt}")
    assert r.status_code == 200 and r.content.startswith(magic)
    assert "attachment" in r.headers["content-disposition"]


def test_figure_colors_option(client, page_bytes, pipe):
    """``figure_colors`` reaches the pipeline: the shipped weights' default paints the
    figure from the color prior, ``sample`` from each variant's own sample."""
    for mode in ("sample", "prior"):
        r = post_page(client, page_bytes, seed="2", figure_colors=mode)
        assert r.status_code == 200, r.text
        got = decode(client.get(f"/api/results/{r.json()['id']}.png").content)
        np.testing.assert_array_equal(got, pipe(EXAMPLE, seed=2, figure_colors=mode).image)
    assert not np.array_equal(got, pipe(EXAMPLE, seed=2, figure_colors="sample").image)
    bad = post_page(client, page_bytes, figure_colors="rainbow")
    assert bad.status_code == 400 and "figure_colors" in bad.json()["detail"]


def test_options_background_no_flats_and_hints(client, page_bytes, pipe):
    r = post_page(client, page_bytes, seed="1", background="#336699", flats="false")
    assert r.status_code == 200, r.text
    info = r.json()
    assert not info["flats"] and info["regions"] == 0
    assert client.get(f"/api/results/{info['id']}.psd").status_code == 400
    bad = client.post(f"/api/results/{info['id']}/recolor",
                      json={"points": [[1, 1]], "colors": ["#000000"]})
    assert bad.status_code == 400 and "flats" in bad.json()["detail"]
    hints = np.zeros((288, 384, 4), np.uint8)
    hints[140:160, 190:210] = (12, 200, 34, 255)
    r = client.post("/api/colorize", files={"file": ("p.png", page_bytes, "image/png"),
                                            "hints": ("h.png", png(hints), "image/png")},
                    data={"seed": "1"})
    assert r.status_code == 200, r.text
    expected = pipe(EXAMPLE, seed=1, hints=hints)
    np.testing.assert_array_equal(decode(client.get(f"/api/results/{r.json()['id']}.png").content),
                                  expected.image)


def test_the_page_and_its_files(client):
    r = client.get("/")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert "http://" not in r.text and "https://" not in r.text     # offline: no CDN
    for name in ("app.js", "style.css"):
        f = client.get(f"/static/{name}")
        assert f.status_code == 200 and f"/static/{name}" in r.text
        assert "http://" not in f.text and "https://" not in f.text
    for path in ("/static/../app.py", "/static/%2e%2e%2fapp.py", "/static/index.htm",
                 "/static/..%2F..%2Fsetup.py"):
        assert client.get(path).status_code == 404


# ---- bad inputs ---------------------------------------------------------------------------
@pytest.mark.parametrize("data, status, words", [
    (b"", 400, "empty"),
    (b"this is not an image at all", 400, "not a readable image"),
    (None, 400, "corrupt"),                         # a truncated PNG
    (png_header(100000, 100000), 413, "too large"),
    (png_header(9000, 9000), 413, "8192"),
])
def test_bad_uploads(client, page_bytes, data, status, words):
    if data is None:
        data = page_bytes[:len(page_bytes) // 2]
    r = post_page(client, data)
    assert r.status_code == status, r.text
    assert words in r.json()["detail"]


def test_huge_body_is_refused_before_it_is_read(client):
    body = b"\0" * (60 << 20)
    r = client.post("/api/colorize", content=body,
                    headers={"content-type": "multipart/form-data; boundary=x"})
    assert r.status_code == 413 and "larger than this server accepts" in r.json()["detail"]


def test_streamed_body_over_the_cap(pipe):
    client = TestClient(create_app(pipe, max_bytes=1000))

    def chunks():                       # no Content-Length: counted as it comes
        for _ in range(10):
            yield b"--x\r\n" + b"a" * 500
    r = client.post("/api/colorize", content=chunks(),
                    headers={"content-type": "multipart/form-data; boundary=x"})
    assert r.status_code == 413


@pytest.mark.parametrize("kwargs, status", [
    (dict(json={"seed": 1}), 415),                                           # not multipart
    (dict(files={"file": ("a.txt", b"hello", "text/plain")}), 415),          # not an image
    (dict(files={"other": ("a.png", b"x", "image/png")}), 400),              # no 'file'
    (dict(files={"file": ("a.png", b"x", "image/png")}, data={"samples": "0"}), 400),
    (dict(files={"file": ("a.png", b"x", "image/png")}, data={"samples": "99"}), 400),
    (dict(files={"file": ("a.png", b"x", "image/png")}, data={"seed": "-1"}), 400),
    (dict(files={"file": ("a.png", b"x", "image/png")}, data={"flats": "maybe"}), 400),
])
def test_bad_requests(client, kwargs, status):
    r = client.post("/api/colorize", **kwargs)
    assert r.status_code == status, r.text
    assert isinstance(r.json()["detail"], str)


def test_bad_options_with_a_good_page(client, page_bytes):
    r = post_page(client, page_bytes, background="#12345")
    assert r.status_code == 400 and "color" in r.json()["detail"]
    r = client.post("/api/colorize", files={"file": ("p.png", page_bytes, "image/png"),
                                            "hints": ("h.png", page_bytes, "image/png")})
    assert r.status_code == 400 and "RGBA" in r.json()["detail"]
    wrong = png(np.zeros((10, 10, 4), np.uint8))
    r = client.post("/api/colorize", files={"file": ("p.png", page_bytes, "image/png"),
                                            "hints": ("h.png", wrong, "image/png")})
    assert r.status_code == 400 and "hint" in r.json()["detail"]


@pytest.mark.parametrize("body, words", [
    ({"points": [[1, 1]], "colors": ["#ggg000"]}, "color"),
    ({"points": [[1, 1]], "colors": ["300,0,0"]}, "0..255"),
    ({"points": [[1, 1]], "colors": [[1.5, 2, 3]]}, "color"),
    ({"points": [[1, 1]], "colors": ["#000000", "#ffffff"]}, "one color"),
    ({"points": [[1, 1]], "colors": []}, "one color"),
    ({"points": [[5000, 1]], "colors": ["#000000"]}, "outside the page"),
    ({"points": [[-1, 1]], "colors": ["#000000"]}, "outside the page"),
    ({"points": [["1", 1]], "colors": ["#000000"]}, "integer"),
    ({"points": [[True, 1]], "colors": ["#000000"]}, "integer"),
    ({"points": "everywhere", "colors": ["#000000"]}, "points"),
    ({"background": "blue"}, "color"),
    ({}, "nothing to recolor"),
    ([1, 2], "JSON object"),
])
def test_bad_recolors(client, colored, body, words):
    r = client.post(f"/api/results/{colored['id']}/recolor", json=body)
    assert r.status_code == 400, r.text
    assert words in r.json()["detail"]


def test_recolor_wrong_content_type_and_bad_json(client, colored):
    url = f"/api/results/{colored['id']}/recolor"
    assert client.post(url, data={"points": "1"}).status_code == 415
    r = client.post(url, content=b"{nope", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "JSON" in r.json()["detail"]


@pytest.mark.parametrize("path", [
    "/api/results/{unknown}", "/api/results/{unknown}.png", "/api/results/{unknown}.psd",
    "/api/results/{unknown}/flats.png", "/api/results/{unknown}/regions.png",
    "/api/results/{unknown}/region?x=1&y=1", "/api/results/..%2F..%2Fsetup.py",
    "/api/results/{id}.gif", "/api/results/{id}.png.png",
])
def test_unknown_ids_and_formats(client, colored, path):
    r = client.get(path.format(unknown="A" * 24, id=colored["id"]))
    assert r.status_code == 404
    r = client.post(f"/api/results/{'B' * 24}/recolor", json={"background": "#000000"})
    assert r.status_code == 404 and "expired" in r.json()["detail"]


# ---- the store ----------------------------------------------------------------------------
def fake_entry(size=64, n=4, seed=0):
    regions = (np.arange(size * size, dtype=np.int32).reshape(size, size) % n)
    outline = np.full((size, size), 255, np.uint8)
    palette = np.full((n, 3), seed % 256, np.uint8)
    return StoredResult(image=compose(paint_regions(regions, palette), outline), outline=outline,
                        background_color=None, seed=seed, regions=regions,
                        region_colors=palette, is_bg=np.zeros(n, bool))


def test_store_bounds_lru_and_expiry():
    now = [0.0]
    store = ResultStore(max_count=3, max_bytes=10 ** 9, ttl_s=10, clock=lambda: now[0])
    ids = [store.put_many([fake_entry(seed=i)])[0] for i in range(3)]
    assert all(len(i) >= 24 for i in ids) and len(set(ids)) == 3
    store.get(ids[0])                                  # ids[0] is now the most recent
    (fourth,) = store.put_many([fake_entry(seed=3)])
    assert store.get(ids[1]) is None and store.get(ids[0]) is not None
    now[0] = 100.0
    assert store.get(fourth) is None and len(store) == 0 and store.nbytes == 0
    # shared arrays count once; the byte cap evicts the oldest
    base = fake_entry()
    one = sum(a.nbytes for a in base.arrays())
    store = ResultStore(max_count=100, max_bytes=one + 3 * base.image.nbytes + 100)
    first = store.put_many([base])[0]
    chain = [base]
    for i in range(3):
        chain.append(chain[-1].recolor([(0, 0)], [(i, i, i)]))
        store.put_many([chain[-1]])
    assert len(store) == 4 and store.get(first) is not None
    assert store.nbytes < one + 3 * (base.image.nbytes + base.region_colors.nbytes + 8) + 100
    store.put_many([chain[-1].recolor([(0, 0)], [(9, 9, 9)])])
    assert len(store) <= 4 and store.nbytes <= store.max_bytes


def test_a_page_larger_than_the_store_is_refused(pipe, page_bytes):
    client = TestClient(create_app(pipe, max_store_bytes=100_000))
    r = post_page(client, page_bytes)
    assert r.status_code == 413 and "MiB" in r.json()["detail"]


# ---- the queue and failures ---------------------------------------------------------------
class SlowPipeline:
    """Blocks every call until ``release`` is set; counts calls."""

    def __init__(self, pipe):
        self.pipe, self.release, self.calls = pipe, threading.Event(), 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        assert self.release.wait(20)
        return self.pipe(*args, **kwargs)


def test_queue_full_answers_503_with_retry_after(pipe, page_bytes):
    slow = SlowPipeline(pipe)
    with TestClient(create_app(slow, workers=1, max_waiting=1, retry_after_s=7)) as client:
        check_queue_full(client, slow, page_bytes)


def check_queue_full(client, slow, page_bytes):
    answers = []

    def request():
        answers.append(post_page(client, page_bytes, seed="1"))
    threads = [threading.Thread(target=request) for _ in range(2)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while client.app.app.state.queue().inside < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    r = post_page(client, page_bytes, seed="1")
    assert r.status_code == 503 and r.headers["retry-after"] == "7"
    assert "busy" in r.json()["detail"]
    slow.release.set()
    for t in threads:
        t.join(30)
    assert [a.status_code for a in answers] == [200, 200]
    assert post_page(client, page_bytes, seed="1").status_code == 200   # room again
    assert slow.calls == 3


def test_a_failure_does_not_take_the_server_down(pipe, page_bytes):
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("worker crashed")
        return pipe(*args, **kwargs)
    client = TestClient(create_app(flaky), raise_server_exceptions=False)
    r = post_page(client, page_bytes)
    assert r.status_code == 500 and "goes on" in r.json()["detail"]
    assert post_page(client, page_bytes).status_code == 200
    assert client.app.app.state.queue().inside == 0


def test_serve_command_checks_its_options(capsys):
    from fastcolor.cli import main
    assert main(["serve", "--port", "70000"]) == 2
    assert "--port" in capsys.readouterr().err
