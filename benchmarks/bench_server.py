"""A bounded load on ``fastcolor serve`` over loopback: CLIENTS threads send COLORIZE
colorize requests (512 px panels) and RECOLOR recolor requests (each followed by the
PNG fetch the page does), then stop; the whole run stops by itself after MAX_SECONDS.

Reports throughput, p50/p95/p99 latency per kind, errors (anything but 200 and 503;
must be 0), how many requests got 503 (each retried after the server's Retry-After, at
most --retry-cap s), and the server's RSS before and after (bounded by the store).

    python benchmarks/bench_server.py --json
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def panel_png(size: int) -> bytes:
    """The house example resized to ``size`` on its longer side."""
    im = Image.open(ROOT / "examples" / "panel_house.png").convert("L")
    scale = size / max(im.size)
    im = im.resize((round(im.width * scale), round(im.height * scale)), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def multipart(fields: dict, file: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                 f'filename="p.png"\r\nContent-Type: image/png\r\n\r\n'.encode() + file + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


class Load:
    def __init__(self, base: str, args):
        self.base, self.args = base, args
        self.lock = threading.Lock()
        self.todo = ["colorize"] * args.colorize + ["recolor"] * args.recolor
        random.Random(0).shuffle(self.todo)
        self.latency = {"colorize": [], "recolor": []}
        self.errors, self.rejected = [], 0
        self.ids: list[tuple[str, int, int]] = []
        self.deadline = time.monotonic() + args.max_seconds

    def request(self, method, path, body=None, ctype=None):
        """-> (status, body, Retry-After); one 503 retry loop, bounded by the deadline."""
        while True:
            req = urllib.request.Request(self.base + path, data=body, method=method)
            if ctype:
                req.add_header("Content-Type", ctype)
            try:
                with urllib.request.urlopen(req, timeout=120) as r:
                    return r.status, r.read()
            except urllib.error.HTTPError as e:
                if e.code != 503 or time.monotonic() > self.deadline:
                    return e.code, e.read()
                with self.lock:
                    self.rejected += 1
                time.sleep(min(float(e.headers.get("Retry-After", 1)), self.args.retry_cap))

    def one(self, kind: str, rng: random.Random, page: bytes) -> None:
        t = time.perf_counter()
        if kind == "recolor" and self.ids:
            rid, w, h = rng.choice(self.ids)
            body = json.dumps({"points": [[rng.randrange(w), rng.randrange(h)]],
                               "colors": ["#%06x" % rng.randrange(1 << 24)]}).encode()
            status, out = self.request("POST", f"/api/results/{rid}/recolor", body,
                                       "application/json")
            if status == 200:
                status, _ = self.request("GET", f"/api/results/{json.loads(out)['id']}.png")
        else:
            kind = "colorize"
            body, ctype = multipart({"seed": rng.randrange(1 << 30)}, page)
            status, out = self.request("POST", "/api/colorize", body, ctype)
            if status == 200:
                info = json.loads(out)
                with self.lock:
                    self.ids.append((info["id"], info["width"], info["height"]))
        with self.lock:
            if status == 200:
                self.latency[kind].append(time.perf_counter() - t)
            elif status == 404 and kind == "recolor":
                self.latency[kind].append(time.perf_counter() - t)   # evicted: by design
            else:
                self.errors.append((kind, status, out[:200].decode(errors="replace")))

    def client(self, seed: int, page: bytes) -> None:
        rng = random.Random(seed)
        while time.monotonic() < self.deadline:
            with self.lock:
                if not self.todo:
                    return
                kind = self.todo.pop()
            self.one(kind, rng, page)


def percentiles(xs) -> dict:
    if not xs:
        return {}
    a = np.array(xs) * 1e3
    return {"count": len(xs), "p50_ms": round(float(np.percentile(a, 50)), 1),
            "p95_ms": round(float(np.percentile(a, 95)), 1),
            "p99_ms": round(float(np.percentile(a, 99)), 1)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--colorize", type=int, default=200)
    p.add_argument("--recolor", type=int, default=500)
    p.add_argument("--size", type=int, default=512, help="the panels' longer side")
    p.add_argument("--max-seconds", type=float, default=600, help="the run stops after this")
    p.add_argument("--retry-cap", type=float, default=0.25,
                   help="longest wait after a 503 (the server says Retry-After)")
    p.add_argument("--max-store-mb", type=float, default=256)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "fastcolor", "serve", "--port", str(port),
         "--max-store-mb", str(args.max_store_mb)], cwd=ROOT, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(base + "/", timeout=5).read()
                break
            except OSError:
                time.sleep(0.1)
        page = panel_png(args.size)
        load = Load(base, args)
        load.one("colorize", random.Random(-1), page)       # warm up (not counted)
        load.latency["colorize"].clear()
        rss_before = rss_mib(server.pid)
        t0 = time.perf_counter()
        threads = [threading.Thread(target=load.client, args=(i, page)) for i in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        done = sum(len(v) for v in load.latency.values())
        report = {"clients": args.clients, "size": args.size, "seconds": round(wall, 1),
                  "requests_done": done, "requests_left": len(load.todo),
                  "throughput_rps": round(done / wall, 2),
                  "colorize": percentiles(load.latency["colorize"]),
                  "recolor_with_png": percentiles(load.latency["recolor"]),
                  "errors": len(load.errors), "rejected_503": load.rejected,
                  "rss_mib_before": round(rss_before, 1),
                  "rss_mib_after": round(rss_mib(server.pid), 1),
                  "store_cap_mib": args.max_store_mb, "error_samples": load.errors[:3]}
        report["rss_growth_mib"] = round(report["rss_mib_after"] - report["rss_mib_before"], 1)
        report["rss_growth_within_store_cap"] = report["rss_growth_mib"] <= args.max_store_mb
    finally:
        server.terminate()
        server.wait(10)
    if args.json:
        print(json.dumps(report))
    else:
        for k, v in report.items():
            print(f"{k:18s} {v}")
    return 1 if report["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
