"""The studio's ASGI app: a small JSON/HTTP API and one static page.

API (every error is a 4xx with fastcolor's own message as ``{"detail": ...}``):

- ``POST /api/colorize`` multipart: ``file`` (the line art), ``seed``, ``samples``
  (variants), ``background`` (``#rrggbb`` or ``R,G,B``), ``flats`` (``true``/``false``),
  ``figure_colors`` (``auto``/``prior``/``sample``: the pipeline's step 3b; with ``prior``
  the variants share the figure's colors and differ in the background),
  ``hints`` (an RGBA PNG of the page's size: strokes) -> the result's JSON (below) with
  ``variants``, the ids of all the variants (the first is ``id``).
- ``GET /api/results/{id}`` -> ``{id, width, height, regions, region_colors,
  background_color, seed, flats, variants}``.
- ``POST /api/results/{id}/recolor`` JSON ``{"points": [[x, y], ...], "colors":
  ["#rrggbb", ...], "background": "#rrggbb"}`` (one color for every point, or one per
  point; background optional) -> a new result's JSON, without sampling again.
- ``GET /api/results/{id}/region?x=&y=`` -> ``{"region": label, "color": "#rrggbb"}``.
- ``GET /api/results/{id}.png`` / ``.psd`` / ``.ora``; ``GET /api/results/{id}/flats.png``
  (no lines); ``GET /api/results/{id}/regions.png`` (the region map, 16-bit gray).
- ``GET /`` the page; ``GET /static/{name}`` its files (from memory).

Safety: uploads are capped in bytes before the body is read (``Content-Length``, and
counted while it streams) and in pixels from the image header before decoding
(``fastcolor.imageio``); results live in a bounded in-memory store
(:class:`~fastcolor.studio.store.ResultStore`) under unguessable ids; no request names a
file; colorizations run ``workers`` at a time with at most ``max_waiting`` waiting, and
503 + ``Retry-After`` when that queue is full; an unexpected error answers 500 and the
server goes on.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import io
import logging
import re
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from PIL import Image

from ..errors import FastcolorError, ImageTooLargeError, InvalidInputError
from ..imageio import load_image_bytes
from .store import ResultStore, StoredResult, StoreFullError

log = logging.getLogger("fastcolor.studio")

STATIC_FILES = {"index.html": "text/html; charset=utf-8",
                "app.js": "text/javascript; charset=utf-8",
                "style.css": "text/css; charset=utf-8"}
DOWNLOADS = {"png": "image/png", "psd": "image/vnd.adobe.photoshop", "ora": "image/openraster"}
UPLOAD_TYPES = ("image/", "application/octet-stream")
MAX_POINTS = 1024
_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
_CSP = ("default-src 'self'; img-src 'self' blob: data:; style-src 'self'; "
        "script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'")
_HEADERS = [(b"x-content-type-options", b"nosniff"),
            (b"content-security-policy", _CSP.encode()), (b"cache-control", b"no-store")]
_TRUE, _FALSE = {"1", "true", "on", "yes"}, {"0", "false", "off", "no"}


class BodyTooLarge(Exception):
    pass


class Guard:
    """ASGI middleware: a request body over ``max_bytes`` gets 413 — from its
    ``Content-Length`` before a byte is read, or as soon as a streamed body passes it
    (the app answers :class:`BodyTooLarge`); every response gets the security headers."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            return await self._reject(send)
        seen, started = 0, False

        async def limited_receive():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise BodyTooLarge()
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                names = {k.lower() for k, _ in message.get("headers", [])}
                message = dict(message, headers=list(message.get("headers", [])) + [
                    (k, v) for k, v in _HEADERS if k not in names])
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._reject(send)

    async def _reject(self, send):
        body = (f'{{"detail": "the upload is larger than this server accepts '
                f'({self.max_bytes} bytes)"}}').encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


class WorkQueue:
    """At most ``workers`` jobs run at once and ``max_waiting`` wait; one more is refused
    (:meth:`enter` returns False)."""

    def __init__(self, workers: int, max_waiting: int):
        if workers < 1 or max_waiting < 0:
            raise ValueError("workers must be >= 1 and max_waiting >= 0")
        self.workers, self.max_waiting = workers, max_waiting
        self._semaphore = asyncio.Semaphore(workers)
        self._inside = 0            # running + waiting

    @property
    def inside(self) -> int:
        return self._inside

    def try_enter(self) -> bool:
        if self._inside >= self.workers + self.max_waiting:
            return False
        self._inside += 1
        return True

    def leave(self) -> None:
        """Give the place taken by ``try_enter`` back without running (a bad request)."""
        self._inside -= 1

    async def run(self, func, *args, executor=None):
        """Run ``func(*args)`` in ``executor`` (default: asyncio's) once a worker is free
        (after ``try_enter``)."""
        try:
            async with self._semaphore:
                return await _offload(executor, func, *args)
        finally:
            self.leave()


async def _offload(executor, func, *args):
    """``func(*args)`` in a thread of ``executor`` (None: asyncio's default pool), then
    the freed heap handed back to the system (glibc's malloc keeps it otherwise)."""
    return await asyncio.get_running_loop().run_in_executor(
        executor, functools.partial(_trimmed, func, *args))


def _trimmed(func, *args):
    try:
        return func(*args)
    finally:
        if _LIBC is not None:
            _LIBC.malloc_trim(0)


_M_ARENA_MAX = -8
try:
    _LIBC = ctypes.CDLL("libc.so.6")
    _LIBC.malloc_trim, _LIBC.mallopt        # glibc
except (OSError, AttributeError):
    _LIBC = None


def _limit_malloc_arenas(arenas: int = 2) -> bool:
    """glibc gives each thread that allocates its own malloc arena (up to 8 per core), and
    an arena keeps freed page-sized buffers: a server whose threads handle whole pages
    grows far past what it holds. Two arenas keep its RSS near its live data. Returns
    whether the limit was set (glibc only; elsewhere a no-op)."""
    return _LIBC is not None and bool(_LIBC.mallopt(_M_ARENA_MAX, arenas))


def _hex(rgb) -> str | None:
    return None if rgb is None else "#%02x%02x%02x" % tuple(int(v) for v in rgb)


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    # compress_level 1: a 1024 px page encodes in ~15 ms instead of ~80 (the recolor
    # loop waits for it); the file is ~20% larger
    Image.fromarray(np.ascontiguousarray(array)).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _layered(entry: StoredResult, fmt: str) -> bytes:
    """A .psd or .ora through ``ColorizeResult.save``, in a private temporary folder
    under a fixed name (nothing from the request names a file)."""
    with tempfile.TemporaryDirectory(prefix="fastcolor-studio-") as tmp:
        path = Path(tmp) / f"page.{fmt}"
        entry.to_result().save(path)
        return path.read_bytes()


def _static(name: str) -> bytes:
    return resources.files("fastcolor.studio").joinpath("static", name).read_bytes()


def create_app(pipeline=None, *, max_bytes: int = 20 * 2**20, max_results: int = 256,
               max_store_bytes: int = 1 << 30, ttl_s: float = 3600.0, workers: int = 1,
               max_waiting: int = 4, max_samples: int = 8, retry_after_s: int = 2,
               weights=None, backend: str = "auto"):
    """The studio's ASGI app (FastAPI).

    pipeline: a ``fastcolor.Pipeline`` (None: ``Pipeline.from_pretrained(weights,
    backend=backend)`` on the first colorization). max_bytes: the largest request body
    (an upload). max_results / max_store_bytes / ttl_s: the result store's bounds.
    workers: colorizations at once; max_waiting: how many more may wait before the
    server answers 503 with ``Retry-After: retry_after_s``. max_samples: most variants a
    request may ask for."""
    _limit_malloc_arenas()
    # a few long-lived threads do all the work (colorize, recolor, encode): threads that
    # come and go each leave a malloc arena and torch buffers behind
    executor = ThreadPoolExecutor(max_workers=workers + 1, thread_name_prefix="fastcolor-studio")
    offload = functools.partial(_offload, executor)
    store = ResultStore(max_results, max_store_bytes, ttl_s)
    static = {name: _static(name) for name in STATIC_FILES}
    state = {"pipeline": pipeline, "queue": None}
    pipeline_lock = threading.Lock()

    def get_pipeline():
        with pipeline_lock:
            if state["pipeline"] is None:
                from ..pipeline import Pipeline
                state["pipeline"] = Pipeline.from_pretrained(weights, backend=backend)
            return state["pipeline"]

    def queue() -> WorkQueue:       # made inside the server's event loop
        if state["queue"] is None:
            state["queue"] = WorkQueue(workers, max_waiting)
        return state["queue"]

    app = FastAPI(title="fastcolor studio", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.store = store
    app.state.queue = queue

    @app.exception_handler(FastcolorError)
    async def fastcolor_error(request, exc):
        status = 413 if isinstance(exc, ImageTooLargeError) else 400
        return JSONResponse({"detail": str(exc)}, status_code=status)

    @app.exception_handler(StoreFullError)
    async def store_full(request, exc):
        return JSONResponse({"detail": str(exc)}, status_code=413)

    @app.exception_handler(Exception)
    async def unexpected(request, exc):     # one failure never takes the server down
        log.exception("studio: %s %s failed", request.method, request.url.path)
        return JSONResponse({"detail": f"internal error ({type(exc).__name__}); the "
                                       "server goes on"}, status_code=500)

    @app.exception_handler(BodyTooLarge)
    async def too_large(request, exc):
        return JSONResponse({"detail": f"the upload is larger than this server accepts "
                                       f"({max_bytes} bytes)"}, status_code=413)

    def lookup(rid: str) -> StoredResult:
        entry = store.get(rid) if _ID.fullmatch(rid) else None
        if entry is None:
            raise HTTPException(404, f"no result {rid!r}: it never existed or has expired "
                                     "(results are kept in memory for a while): color the "
                                     "page again")
        return entry

    def describe(rid: str, entry: StoredResult) -> dict:
        h, w = entry.shape
        colors = [] if entry.region_colors is None else [_hex(c) for c in entry.region_colors]
        return {"id": rid, "width": w, "height": h, "flats": entry.has_flats,
                "regions": len(colors), "region_colors": colors,
                "background_color": _hex(entry.background_color), "seed": entry.seed,
                "variants": entry.variants or [rid]}

    def field(form, name, default=None):
        value = form.get(name)
        if value is None or (isinstance(value, str) and value.strip() == ""):
            return default
        if not isinstance(value, str):
            raise InvalidInputError(f"'{name}' must be a form field, not a file")
        return value.strip()

    def int_field(form, name, default, low, high):
        value = field(form, name)
        if value is None:
            return default
        if not re.fullmatch(r"\d{1,20}", value) or not low <= int(value) <= high:
            raise InvalidInputError(f"'{name}' must be an integer in {low}..{high}, got {value!r}")
        return int(value)

    async def upload(form, name, required: bool):
        part = form.get(name)
        if part is None or isinstance(part, str):
            if required:
                raise InvalidInputError(f"no '{name}' file in the upload: send the line art "
                                        f"as the multipart field '{name}'")
            return None
        ctype = (part.content_type or "").split(";")[0].strip().lower()
        if ctype and not ctype.startswith(UPLOAD_TYPES):
            raise HTTPException(415, f"'{name}' has content type {ctype!r}: send an image "
                                     "(PNG, JPEG, BMP, TIFF, WebP)")
        data = await part.read()
        return load_image_bytes(data, f"the uploaded {name} ({part.filename or 'no name'})")

    @app.post("/api/colorize")
    async def colorize(request: Request):
        ctype = request.headers.get("content-type", "")
        if not ctype.startswith("multipart/form-data"):
            raise HTTPException(415, "POST /api/colorize takes multipart/form-data: the "
                                     "line art as 'file' and the options as fields")
        if not queue().try_enter():
            return JSONResponse(
                {"detail": f"the server is busy ({queue().inside} colorizations running or "
                           f"waiting): try again in {retry_after_s} s"},
                status_code=503, headers={"Retry-After": str(retry_after_s)})
        try:
            async with request.form(max_files=2, max_fields=16) as form:
                options = dict(
                    seed=int_field(form, "seed", None, 0, 2**63 - 1),
                    samples=int_field(form, "samples", 1, 1, max_samples),
                    background=field(form, "background"),
                    flats=field(form, "flats", "true").lower(),
                    figure_colors=field(form, "figure_colors", "auto"))
                if options["flats"] not in _TRUE | _FALSE:
                    raise InvalidInputError(f"'flats' must be true or false, got {options['flats']!r}")
                options["flats"] = options["flats"] in _TRUE
                page = await upload(form, "file", True)
                hints = await upload(form, "hints", False)
                if hints is not None and (hints.ndim != 3 or hints.shape[2] != 4):
                    raise InvalidInputError("the hints must be an RGBA PNG of the page's "
                                            "size: color strokes on a transparent layer")
        except BaseException:
            queue().leave()
            raise

        def work():
            results = get_pipeline()(page, hints=hints, **options)
            return [StoredResult.from_result(r)
                    for r in (results if isinstance(results, list) else [results])]

        entries = await queue().run(work, executor=executor)
        ids = store.put_many(entries)
        for entry in entries:
            entry.variants = ids
        return describe(ids[0], entries[0])

    # before /api/results/{rid}, which would take 'ID.png' for an id
    @app.get("/api/results/{rid}.{fmt}")
    async def download(rid: str, fmt: str):
        if fmt not in DOWNLOADS:
            raise HTTPException(404, f"no format {fmt!r}: use .png, .psd or .ora")
        entry = lookup(rid)
        data = await offload(
            (lambda: _png(entry.image)) if fmt == "png" else (lambda: _layered(entry, fmt)))
        return Response(data, media_type=DOWNLOADS[fmt], headers={
            "Content-Disposition": f'attachment; filename="fastcolor-{rid[:8]}.{fmt}"'})

    @app.get("/api/results/{rid}")
    async def result_info(rid: str):
        return describe(rid, lookup(rid))

    @app.post("/api/results/{rid}/recolor")
    async def recolor(rid: str, request: Request):
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise HTTPException(415, "recolor takes JSON: {\"points\": [[x, y], ...], "
                                     "\"colors\": [\"#rrggbb\", ...], \"background\": \"#rrggbb\"}")
        entry = lookup(rid)
        try:
            body = await request.json()
        except ValueError:
            raise InvalidInputError("the request body is not valid JSON") from None
        points, colors, background = parse_recolor(body)
        new = await offload(entry.recolor, points, colors, background)
        (new_id,) = store.put_many([new])
        return describe(new_id, new)

    @app.get("/api/results/{rid}/region")
    async def region(rid: str, x: int, y: int):
        entry = lookup(rid)
        label = entry.region_at(x, y)
        return {"region": label, "color": _hex(entry.region_colors[label]),
                "background": bool(entry.is_bg[label])}

    @app.get("/api/results/{rid}/flats.png")
    async def flats_png(rid: str):
        entry = lookup(rid)
        return Response(await offload(lambda: _png(entry.flats())),
                        media_type="image/png")

    @app.get("/api/results/{rid}/regions.png")
    async def regions_png(rid: str):
        from ..layers import region_map_image
        entry = lookup(rid)
        entry._need_flats("the region map")

        def encode():
            image, _ = region_map_image(entry.regions, len(entry.region_colors))
            buf = io.BytesIO()
            image.save(buf, format="PNG", compress_level=1)
            return buf.getvalue()
        return Response(await offload(encode), media_type="image/png")

    @app.get("/")
    async def index():
        return Response(static["index.html"], media_type=STATIC_FILES["index.html"])

    @app.get("/static/{name}")
    async def static_file(name: str):
        if name not in static:      # a fixed table: a request never names a file
            raise HTTPException(404, f"no static file {name!r}")
        return Response(static[name], media_type=STATIC_FILES[name])

    return Guard(app, max_bytes)      # .app is the FastAPI app (.app.state.store)


def parse_recolor(body) -> tuple[list, list, tuple | None]:
    """``{"points", "colors", "background"}`` -> (points, colors, background), checked."""
    from ..pipeline import parse_color
    if not isinstance(body, dict):
        raise InvalidInputError("recolor takes a JSON object with 'points' and 'colors' "
                                "and/or 'background'")
    points, colors = body.get("points") or [], body.get("colors") or []
    background = body.get("background")
    if not isinstance(points, list) or len(points) > MAX_POINTS:
        raise InvalidInputError(f"'points' must be a list of at most {MAX_POINTS} [x, y] pairs")
    checked = []
    for p in points:
        if (not isinstance(p, list) or len(p) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in p)):
            raise InvalidInputError(f"a point must be [x, y] with integer pixel "
                                    f"coordinates, got {p!r}")
        checked.append((p[0], p[1]))
    if isinstance(colors, str):
        colors = [colors]
    if not isinstance(colors, list):
        raise InvalidInputError("'colors' must be a list of '#rrggbb' colors")
    rgb = [parse_color(c) for c in colors]
    if checked and len(rgb) == 1:
        rgb = rgb * len(checked)
    if len(rgb) != len(checked):
        raise InvalidInputError(f"give one color for all points or one per point: "
                                f"{len(checked)} points, {len(rgb)} colors")
    bg = None if background is None else parse_color(background)
    if not checked and bg is None:
        raise InvalidInputError("nothing to recolor: give 'points' and 'colors', or "
                                "'background'")
    return checked, rgb, bg
