"""Color a whole archive on Ray: ``colorize_dataset`` and ``fastcolor colorize --ray``.

Needs ``pip install 'fastcolor[ray]'`` (``ray[data]``); ray is imported only inside the
functions that use it, so ``page_seed`` and the CLI's ``--seed-by path`` work without it.

How a run goes (the driver is the process that calls ``colorize_dataset``):

1. The driver lists the pages (files as given; folders: their image files, sorted, as
   ``fastcolor colorize`` does), plans every output exactly as the single-process CLI
   does for a folder ``-o`` (``OUT/STEM.png``, ``OUT/STEM_k.png`` for sample k), and
   checks them before any compute (no output is an input, no two pages share one, the
   folder can be written).
2. A page whose outputs all exist is skipped (a rerun resumes), unless ``overwrite``.
3. The rest go through Ray Data: ``from_items`` -> ``map_batches`` over an
   ``ActorPoolStrategy`` pool of actors, each loading the ``Pipeline`` once in its
   constructor (weights read once per actor, not per page). Actors are restarted when
   they die and the batch they held is retried (Ray Data's defaults for actor pools:
   ``max_restarts=-1``, ``max_task_retries=-1``).
4. Every output is written atomically (``fastcolor.atomic``: a temporary name in the
   output folder, then renamed). A retried batch does not write a page twice: an output
   already written during this run (mtime at or after the run's start) is kept.
5. A page that fails (unreadable, too large, any exception) is listed in
   ``OUT/failures.jsonl`` (one JSON object a line: ``path``, ``error``); a page Ray
   returns no result for is listed too. Nothing is dropped silently; a rerun retries
   them (they have no output).

Seeds: page ``p`` draws from :func:`page_seed` ``(seed, rel)``, ``rel`` being its path
relative to the input root (the folder given, or the file's own folder), so it gets
the same colors whichever actor, machine or run colors it, and the same as
``fastcolor colorize --seed-by path`` on one machine.

Byte-identical results need the same arithmetic too: float32 sums in another order (another
torch thread count, another CPU's vector width, another backend) can flip a sample at an
8-bit bin edge and so one region's color (measured: 1 of 12 panels, 0.13 % of its pixels,
shipped weights, 2 threads against 1). So each actor runs ``int(cpus_per_actor)`` torch
threads whatever its node has, and ``fastcolor colorize --seed-by path`` with as many
threads (``OMP_NUM_THREADS=1`` for the default of one CPU per actor) on the same kind of
CPU gives the same bytes.

On a cluster, inputs and the output folder must be on a file system every node mounts
at the same path (NFS, a shared volume).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePath

from .errors import BackendUnavailableError, InvalidInputError

FAILURES = "failures.jsonl"
_SEED_SPACE = 2 ** 64


def page_seed(seed: int, rel) -> int:
    """The seed of the page at ``rel`` (its path relative to the input root; ``/`` or the
    OS separator): ``(seed + blake2b-64(rel as POSIX, UTF-8) mod 2**63) mod 2**64``.
    Independent of the page's position in the list, the process and the machine."""
    rel = PurePath(rel).as_posix()
    digest = hashlib.blake2b(rel.encode("utf-8"), digest_size=8).digest()
    return (int(seed) + int.from_bytes(digest, "big") % 2 ** 63) % _SEED_SPACE


def list_pages(inputs) -> list[tuple[Path, str]]:
    """``(path, rel)`` of every page: files as given (``rel``: the file name); folders ->
    their image files, sorted (``rel``: the name inside the folder). Missing paths and
    empty folders raise, before any compute."""
    from .cli import _expand_inputs
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    pages = []
    for item in map(str, inputs):
        root = Path(item) if Path(item).is_dir() else Path(item).parent
        pages += [(p, p.relative_to(root).as_posix()) for p in _expand_inputs([item])]
    return pages


@dataclass
class DatasetSummary:
    """What a run did: pages ``done`` (colored in this run), ``failed`` (listed in
    ``failures``), ``skipped`` (their outputs existed), wall ``seconds``."""
    done: int
    failed: int
    skipped: int
    seconds: float
    failures: Path | None = None
    errors: list = field(default_factory=list)

    @property
    def pages_per_second(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        text = (f"colored {self.done} pages; {self.failed} failed; {self.skipped} skipped; "
                f"{self.pages_per_second:.2f} pages/s ({self.seconds:.1f} s)")
        if self.failures is not None:
            text += f"; failures listed in {self.failures}"
        return text


class _Colorizer:
    """One Ray actor: loads the pipeline once, colors the pages of each batch."""

    def __init__(self, weights, backend, device, options, size, overwrite, started, hooks,
                 threads):
        import torch
        from .pipeline import Pipeline
        torch.set_num_threads(threads)           # the same on every node (see the notes)
        extra = {"device": device} if device else {}
        self.pipe = Pipeline.from_pretrained(weights, backend=backend, **extra)
        self.options, self.size = options, size
        self.overwrite, self.started = overwrite, started
        self.hooks, self.written = hooks, 0

    def _fresh(self, dst: str) -> bool:
        """``dst`` exists and was written in this run (by an earlier try of this batch)."""
        try:
            return os.stat(dst).st_mtime >= self.started or not self.overwrite
        except OSError:
            return False

    def __call__(self, batch):
        status, errors = [], []
        for src, outs, seed in zip(batch["path"], batch["outputs"], batch["seed"]):
            dsts = str(outs).split("\n")
            try:
                if all(self._fresh(d) for d in dsts):
                    status.append("done")
                    errors.append("")
                    continue
                self._colorize(str(src), dsts, int(seed))
                status.append("done")
                errors.append("")
            except Exception as exc:            # noqa: BLE001 - listed, never dropped
                status.append("failed")
                errors.append(f"{type(exc).__name__}: {exc}")
        return {"path": batch["path"], "status": status, "error": errors}

    def _colorize(self, src: str, dsts: list[str], seed: int) -> None:
        from .cli import _fit_size
        image = src if self.size is None else _fit_size(src, self.size)
        result = self.pipe(image, seed=seed, samples=len(dsts), **self.options)
        results = result if len(dsts) > 1 else [result]
        for res, dst in zip(results, dsts):
            res.save(dst)
        self._after_write(src)

    def _after_write(self, src: str) -> None:
        """Test hooks (``FASTCOLOR_TEST_*`` in the driver's environment): a log line per
        page written (``HOOK_DIR/writes.log``); the process exits after its
        ``DIE_AFTER``-th page (once per run when ``HOOK_DIR`` is set)."""
        self.written += 1
        hook_dir = self.hooks.get("FASTCOLOR_TEST_HOOK_DIR")
        if hook_dir:
            fd = os.open(os.path.join(hook_dir, "writes.log"),
                         os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            os.write(fd, (src + "\n").encode())
            os.close(fd)
        die_after = int(self.hooks.get("FASTCOLOR_TEST_DIE_AFTER") or 0)
        if die_after and self.written >= die_after:
            if hook_dir:
                try:
                    os.close(os.open(os.path.join(hook_dir, "died"),
                                     os.O_WRONLY | os.O_CREAT | os.O_EXCL))
                except FileExistsError:
                    return
            os._exit(1)


def _import_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise BackendUnavailableError(f"colorizing on Ray needs ray[data] ({exc}): "
                                      "pip install 'fastcolor[ray]'") from None
    return ray


def start_ray(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Connect to Ray unless already connected: ``address`` (``auto``, ``HOST:PORT``,
    ``ray://HOST:10001``), or a local Ray on this machine (loopback, no dashboard) with
    ``num_cpus`` CPUs (None: all). Returns True if this call connected (then call
    ``ray.shutdown()`` when done)."""
    ray = _import_ray()
    if ray.is_initialized():
        return False
    if address is None:
        ray.init(num_cpus=num_cpus, include_dashboard=False,
                 _node_ip_address="127.0.0.1", log_to_driver=False)
    else:
        ray.init(address=address, log_to_driver=False)
    return True


def colorize_dataset(inputs, output_dir, *, address: str | None = None,
                     actors: int | None = None, batch_size: int = 4, seed: int = 0,
                     overwrite: bool = False, weights=None, backend: str = "auto",
                     device: str | None = None, samples: int = 1, fmt: str | None = None,
                     size: int | None = None, cpus_per_actor: float = 1,
                     num_cpus: int | None = None, **options) -> DatasetSummary:
    """Color every page of ``inputs`` (files or folders) into ``output_dir`` on Ray.

    ``address``: the cluster to use (None: the Ray this process is connected to, else a
    local one started here with ``num_cpus``). ``actors``: pool size (None: the
    cluster's CPUs / ``cpus_per_actor``). ``batch_size``: pages per actor call.
    ``seed``: the global seed (see :func:`page_seed`). ``overwrite``: recolor pages
    whose outputs exist (default: skip them, so a rerun resumes). ``weights``,
    ``backend``, ``device``: as ``Pipeline.from_pretrained``; ``samples``, ``fmt``
    (png, jpg, psd, ora), ``size``: as ``fastcolor colorize``; ``options``: keyword
    arguments of ``Pipeline.__call__`` (background, temperature, flats, gap, ...).
    Returns the summary; failed pages are listed in ``output_dir/failures.jsonl``."""
    from .atomic import write_atomic
    from .cli import _check_outputs, _output_paths
    if batch_size < 1 or (actors is not None and actors < 1) or samples < 1:
        raise InvalidInputError("batch_size, actors and samples must be at least 1")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < _SEED_SPACE:
        raise InvalidInputError(f"seed must be an integer in 0..{_SEED_SPACE - 1}, got {seed!r}")
    started = time.time()
    pages = list_pages(inputs)
    paths = [p for p, _ in pages]
    outputs = _output_paths(paths, os.path.join(str(output_dir), ""), samples, fmt)
    _check_outputs(paths, outputs)
    rows, skipped = [], 0
    for (src, rel), dsts in zip(pages, outputs):
        if not overwrite and all(d.exists() for d in dsts):
            skipped += 1
            continue
        rows.append({"path": str(src), "outputs": "\n".join(map(str, dsts)),
                     "seed": page_seed(seed, rel)})
    results = []
    if rows:
        results = _run(rows, address=address, actors=actors, batch_size=batch_size,
                       num_cpus=num_cpus, cpus_per_actor=cpus_per_actor,
                       ctor=dict(weights=None if weights is None else str(weights),
                                 backend=backend, device=device, options=options, size=size,
                                 overwrite=overwrite, started=started - 1.0,
                                 threads=max(1, int(cpus_per_actor)),
                                 hooks={k: v for k, v in os.environ.items()
                                        if k.startswith("FASTCOLOR_TEST_")}))
    by_path = {}
    for r in results:
        by_path.setdefault(str(r["path"]), r)
    failures = []
    for row in rows:
        r = by_path.get(row["path"])
        if r is None:
            failures.append({"path": row["path"], "error": "no result came back from Ray"})
        elif r["status"] != "done":
            failures.append({"path": row["path"], "error": str(r["error"])})
    report = Path(output_dir) / FAILURES
    if failures:
        write_atomic(report, "".join(json.dumps(f) + "\n" for f in failures))
    elif report.exists():
        report.unlink()                          # from an earlier run, all retried now
    return DatasetSummary(done=len(rows) - len(failures), failed=len(failures),
                          skipped=skipped, seconds=time.time() - started,
                          failures=report if failures else None, errors=failures)


def _run(rows, *, address, actors, batch_size, num_cpus, cpus_per_actor, ctor) -> list:
    ray = _import_ray()
    started_here = start_ray(address, num_cpus)
    try:
        if actors is None:
            cpus = ray.cluster_resources().get("CPU", 1)
            actors = max(1, int(cpus // cpus_per_actor))
        actors = min(actors, max(1, math.ceil(len(rows) / batch_size)))
        ds = ray.data.from_items(rows, override_num_blocks=max(1, math.ceil(
            len(rows) / batch_size)))
        ds = ds.map_batches(_Colorizer, batch_size=batch_size, fn_constructor_kwargs=ctor,
                            compute=ray.data.ActorPoolStrategy(size=actors),
                            num_cpus=cpus_per_actor)
        # Ray Data's actor pools default to max_restarts=-1 and max_task_retries=-1 (an
        # actor that dies is restarted and its batch retried); passing them explicitly
        # is deprecated (ray_remote_args), so the defaults are relied on and tested.
        return list(ds.select_columns(["path", "status", "error"]).iter_rows())
    finally:
        if started_here:
            ray.shutdown()


def cmd_colorize_ray(args) -> int:
    """``fastcolor colorize IN... -o OUT/ --ray [--ray-address ADDR] [--actors N]``."""
    if args.layers or args.series or args.reference or args.hints:
        raise InvalidInputError("--ray colors pages independently: --layers, --series, "
                                "--reference and --hints are not supported with it")
    if args.seed_by == "index":
        raise InvalidInputError("--ray seeds every page from its path (--seed-by path)")
    options = dict(background=args.background, temperature=args.temperature,
                   detect_background=not args.no_detect_background, flats=not args.no_flats,
                   gap=args.gap, min_area=args.min_area, panels=not args.no_panels)
    if args.palette is not None:
        from .palette import parse_palette
        if args.no_flats:
            raise InvalidInputError("--palette snaps region colors: it needs flats "
                                    "(drop --no-flats)")
        options["palette"] = parse_palette(args.palette)
    summary = colorize_dataset(args.inputs, args.output, address=args.ray_address,
                               actors=args.actors, seed=args.seed, overwrite=args.overwrite,
                               weights=args.weights, backend=args.backend,
                               device=args.device, samples=args.samples, fmt=args.format,
                               size=args.size, **options)
    print(summary, file=sys.stderr if summary.failed else sys.stdout)
    return 1 if summary.failed else 0


__all__ = ["DatasetSummary", "colorize_dataset", "list_pages", "page_seed", "start_ray"]
