"""Color a whole archive on Ray: ``colorize_dataset`` and ``fastcolor colorize --ray``.

Needs ``pip install 'fastcolor[ray]'`` (``ray[data]``); ray is imported only inside the
functions that use it, so ``page_seed`` and the CLI's ``--seed-by path`` work without it.

How a run goes (the driver is the process that calls ``colorize_dataset``):

1. The driver lists the pages (files as given; folders: their image files, sorted, as
   ``fastcolor colorize`` does; local paths, or URIs of any filesystem pyarrow reaches,
   ``s3://``, ``gs://``, ``hdfs://``, ``file://``, through ``pyarrow.fs.FileSystem.
   from_uri``, or paths inside a ``filesystem=`` of the caller's), plans every output exactly as the single-process CLI
   does for a folder ``-o`` (``OUT/STEM.png``, ``OUT/STEM_k.png`` for sample k), and
   checks them before any compute (no output is an input, no two pages share one, the
   folder can be written).
2. A page whose outputs all exist is skipped (a rerun resumes), unless ``overwrite``.
3. The rest go through Ray Data: ``from_items`` -> ``map_batches`` over an
   ``ActorPoolStrategy`` pool of actors, each loading the ``Pipeline`` once in its
   constructor (weights read once per actor, not per page). A row is a page's name,
   where to read it (filesystem index and path), its outputs and seed (~220 bytes);
   pixels never go through the object store: an actor reads its page itself (a local
   path, or the bytes from the page's pyarrow filesystem) and writes its outputs. Actors are restarted when
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

On a cluster, the output folder (and local-path inputs) must be on a file system every
node mounts at the same path (NFS, a shared volume); inputs may instead be URIs every node
can read (``s3://bucket/pages/``: credentials from each node's environment, as pyarrow
finds them). Outputs are written to a local or mounted folder only (atomic renames).

Where the time goes: ``DatasetSummary.profile`` (see :func:`_profile`) keeps the driver's
and each actor's start-up marks and per-page times; ``benchmarks/bench_distributed.py``
reports them next to the single process's.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import socket
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


def is_uri(item) -> bool:
    """``s3://...``, ``gs://...``, ``file:///...``: read through ``pyarrow.fs``."""
    return isinstance(item, str) and "://" in item


@dataclass
class _Page:
    """One input page: ``name`` as listed (a local path, a URI, or a path inside the
    ``filesystem=`` given) and in ``failures.jsonl``; ``fs`` (an index into the run's
    pyarrow filesystems, -1: a local path) and ``key`` (its path there); ``rel`` (seeds);
    ``local`` (its local path when it has one, for the checks on outputs)."""
    name: str
    fs: int
    key: str
    rel: str
    local: Path | None


def _local_path(fs, key: str) -> Path | None:
    """Where ``key`` of pyarrow filesystem ``fs`` lies on this machine, if it does."""
    from pyarrow import fs as pafs
    if isinstance(fs, pafs.LocalFileSystem):
        return Path(key)
    if isinstance(fs, pafs.SubTreeFileSystem):
        inner = _local_path(fs.base_fs, fs.base_path)
        return None if inner is None else inner / key.lstrip("/")
    return None


def _list_sources(inputs, filesystem=None) -> tuple[list[_Page], list]:
    """Every page of ``inputs`` (local paths, URIs any pyarrow filesystem reads, or paths
    inside ``filesystem``) and the pyarrow filesystems they are read from; files as
    given, folders -> their image files (not recursive), sorted. Missing paths, empty
    folders, unknown URI schemes raise here, before any compute."""
    from .cli import IMAGE_SUFFIXES
    from .errors import InvalidImageError
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    pages, filesystems = [], []
    for item in inputs:
        if filesystem is None and not is_uri(item):
            pages += [_Page(str(p), -1, str(p), rel, p) for p, rel in list_pages([item])]
            continue
        try:
            from pyarrow import fs as pafs
        except ImportError as exc:                         # ray[data] brings pyarrow
            raise BackendUnavailableError(f"reading {item!r} needs pyarrow ({exc})") from None
        item = str(item)
        try:
            if filesystem is None:
                fs, root = pafs.FileSystem.from_uri(item)
            else:
                fs, root = filesystem, item
            info = fs.get_file_info(root)
            if info.type == pafs.FileType.Directory:
                found = sorted((i for i in fs.get_file_info(pafs.FileSelector(root))
                                if i.type == pafs.FileType.File
                                and PurePath(i.path).suffix.lower() in IMAGE_SUFFIXES),
                               key=lambda i: i.path)
                if not found:
                    raise InvalidInputError(f"folder {item!r} holds no images")
            elif info.type == pafs.FileType.NotFound:
                raise InvalidImageError(f"image file {item!r} does not exist")
            else:
                found = [info]
        except (ValueError, OSError) as exc:   # pyarrow.ArrowInvalid is a ValueError
            raise InvalidInputError(f"cannot read {item!r}: {exc}") from None
        filesystems.append(fs)
        k = len(filesystems) - 1
        for i in found:
            name = item if i is info else i.path if filesystem is not None else \
                _join_uri(item, i.base_name)
            pages.append(_Page(name, k, i.path, i.base_name, _local_path(fs, i.path)))
    return pages, filesystems


def _join_uri(uri: str, rel: str) -> str:
    """``uri`` (a folder; any query such as ``?region=...`` kept at the end) + ``/rel``:
    the page's name in messages and ``failures.jsonl`` (it is read by filesystem and
    path, never by this name)."""
    base, sep, query = uri.partition("?")
    return base.rstrip("/") + "/" + rel + sep + query


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
    profile: dict = field(default_factory=dict)

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
                 threads, filesystems=()):
        born = time.time()
        import torch
        from .pipeline import Pipeline
        imported = time.time()
        torch.set_num_threads(threads)           # the same on every node (see the notes)
        extra = {"device": device} if device else {}
        self.pipe = Pipeline.from_pretrained(weights, backend=backend, **extra)
        self.options, self.size = options, size
        self.overwrite, self.started = overwrite, started
        self.hooks, self.written = hooks, 0
        self.filesystems = list(filesystems)
        # where this actor's start-up went (wall clock, comparable across one machine)
        self.clock = {"actor": f"{socket.gethostname()}:{os.getpid()}", "born": born,
                      "imported": imported, "ready": time.time()}

    def _fresh(self, dst: str) -> bool:
        """``dst`` exists and was written in this run (by an earlier try of this batch)."""
        try:
            return os.stat(dst).st_mtime >= self.started or not self.overwrite
        except OSError:
            return False

    def __call__(self, batch):
        status, errors, starts, ends = [], [], [], []
        for src, fs, key, outs, seed in zip(batch["path"], batch["fs"], batch["key"],
                                            batch["outputs"], batch["seed"]):
            dsts = str(outs).split("\n")
            starts.append(time.time())
            try:
                if all(self._fresh(d) for d in dsts):
                    status.append("done")
                    errors.append("")
                else:
                    self._colorize(str(src), int(fs), str(key), dsts, int(seed))
                    status.append("done")
                    errors.append("")
            except Exception as exc:            # noqa: BLE001 - listed, never dropped
                status.append("failed")
                errors.append(f"{type(exc).__name__}: {exc}")
            ends.append(time.time())
        n = len(status)
        return {"path": batch["path"], "status": status, "error": errors,
                "start": starts, "end": ends, "actor": [self.clock["actor"]] * n,
                **{k: [self.clock[k]] * n for k in ("born", "imported", "ready")}}

    def _read(self, src: str, fs: int, key: str):
        """A local page as its path; one on a pyarrow filesystem decoded from its bytes
        (the same checks and the same pixels as from a path)."""
        if fs < 0:
            return src
        from .errors import InvalidImageError
        from .imageio import load_image_bytes
        try:
            with self.filesystems[fs].open_input_file(key) as f:
                data = f.read()
        except (OSError, ValueError) as exc:    # pyarrow's errors are OSError/ValueError
            raise InvalidImageError(f"image file {src!r} cannot be read: {exc}") from None
        return load_image_bytes(data, f"image file {src!r}")

    def _colorize(self, src: str, fs: int, key: str, dsts: list[str], seed: int) -> None:
        from .cli import _fit_size
        image = self._read(src, fs, key)
        if self.size is not None:
            image = _fit_size(image, self.size)
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


def _check_page_outputs(pages: list[_Page], outputs: list[list[Path]]) -> None:
    """Before any compute, as ``fastcolor colorize`` checks: no output is a (local) input,
    no two pages share an output, the output folder can be written."""
    from .atomic import check_writable
    from .cli import _check_outputs
    local = [(pg.local, dsts) for pg, dsts in zip(pages, outputs) if pg.local is not None]
    _check_outputs([p for p, _ in local], [d for _, d in local])
    owner = {}
    for pg, dsts in zip(pages, outputs):
        for dst in dsts:
            key = dst.resolve()
            if key in owner:
                raise InvalidInputError(
                    f"{owner[key]!r} and {pg.name!r} would both be written to {str(dst)!r}; "
                    f"rename one of them, or colorize them in separate runs with different "
                    f"-o folders")
            owner[key] = pg.name
    if len(local) < len(pages):
        check_writable(outputs[0][0])


def colorize_dataset(inputs, output_dir, *, address: str | None = None,
                     actors: int | None = None, batch_size: int = 4, seed: int = 0,
                     overwrite: bool = False, weights=None, backend: str = "auto",
                     device: str | None = None, samples: int = 1, fmt: str | None = None,
                     size: int | None = None, cpus_per_actor: float = 1,
                     num_cpus: int | None = None, filesystem=None,
                     **options) -> DatasetSummary:
    """Color every page of ``inputs`` (files or folders: local paths, URIs that
    ``pyarrow.fs.FileSystem.from_uri`` opens such as ``s3://bucket/pages/``, or, with
    ``filesystem`` (a ``pyarrow.fs.FileSystem``), paths inside it) into ``output_dir`` (a
    local or mounted folder) on Ray.

    ``address``: the cluster to use (None: the Ray this process is connected to, else a
    local one started here with ``num_cpus``). ``actors``: pool size (None: the
    cluster's CPUs / ``cpus_per_actor``). ``batch_size``: pages per actor call (a whole
    number >= 1; more spends less on Ray per page, fewer spreads the last pages better).
    ``seed``: the global seed (see :func:`page_seed`). ``overwrite``: recolor pages
    whose outputs exist (default: skip them, so a rerun resumes). ``weights``,
    ``backend``, ``device``: as ``Pipeline.from_pretrained``; ``samples``, ``fmt``
    (png, jpg, psd, ora), ``size``: as ``fastcolor colorize``; ``options``: keyword
    arguments of ``Pipeline.__call__`` (background, temperature, flats, gap, ...).
    Returns the summary; failed pages are listed in ``output_dir/failures.jsonl``."""
    from .atomic import write_atomic
    from .cli import _output_paths
    for name, value in (("batch_size", batch_size), ("actors", actors), ("samples", samples)):
        if value is None and name == "actors":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidInputError(f"{name} must be a whole number of at least 1, got "
                                    f"{value!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < _SEED_SPACE:
        raise InvalidInputError(f"seed must be an integer in 0..{_SEED_SPACE - 1}, got {seed!r}")
    started = time.time()
    marks = {}
    pages, filesystems = _list_sources(inputs, filesystem)
    outputs = _output_paths([PurePath(pg.key) for pg in pages],
                            os.path.join(str(output_dir), ""), samples, fmt)
    _check_page_outputs(pages, outputs)
    rows, skipped = [], 0
    for pg, dsts in zip(pages, outputs):
        if not overwrite and all(d.exists() for d in dsts):
            skipped += 1
            continue
        rows.append({"path": pg.name, "fs": pg.fs, "key": pg.key,
                     "outputs": "\n".join(map(str, dsts)), "seed": page_seed(seed, pg.rel)})
    results = []
    marks["planned"] = time.time()
    if rows:
        results = _run(rows, marks, address=address, actors=actors, batch_size=batch_size,
                       num_cpus=num_cpus, cpus_per_actor=cpus_per_actor,
                       ctor=dict(weights=None if weights is None else str(weights),
                                 backend=backend, device=device, options=options, size=size,
                                 overwrite=overwrite, started=started - 1.0,
                                 filesystems=filesystems,
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
    ended = time.time()
    return DatasetSummary(done=len(rows) - len(failures), failed=len(failures),
                          skipped=skipped, seconds=ended - started,
                          failures=report if failures else None, errors=failures,
                          profile=_profile(started, marks, results, ended))


def _profile(started: float, marks: dict, results: list, ended: float) -> dict:
    """Where a run's wall time went, in seconds from the call's start (one machine's
    clock; on a cluster the actors' clocks may differ a little): ``planned`` (pages
    listed and checked), ``ray`` (connected, Ray Data imported), per actor ``born`` (its
    constructor began: the worker process is up), ``imported`` (torch and fastcolor),
    ``ready`` (pipeline loaded) and ``first`` (its first page began); ``first_page_s``
    (each actor's first page: warm-up included), ``steady_page_s`` (the mean of every
    later page), ``busy_s`` (all pages' time, all actors), ``last`` (the last page
    ended) and ``end``."""
    rel = {k: round(v - started, 4) for k, v in marks.items()}
    actors, later, firsts = {}, [], []
    for r in sorted(results, key=lambda r: float(r["start"])):
        name = str(r["actor"])
        if name not in actors:
            actors[name] = {k: round(float(r[k]) - started, 4)
                            for k in ("born", "imported", "ready")}
            actors[name]["first"] = round(float(r["start"]) - started, 4)
            firsts.append(float(r["end"]) - float(r["start"]))
        else:
            later.append(float(r["end"]) - float(r["start"]))
    out = dict(rel, actors=list(actors.values()), end=round(ended - started, 4))
    if results:
        out["last"] = round(max(float(r["end"]) for r in results) - started, 4)
        out["busy_s"] = round(sum(later) + sum(firsts), 4)     # inside pages, all actors
        out["first_page_s"] = [round(t, 4) for t in firsts]
        out["steady_page_s"] = round(sum(later) / len(later), 4) if later else None
    return out


def _run(rows, marks, *, address, actors, batch_size, num_cpus, cpus_per_actor, ctor) -> list:
    ray = _import_ray()
    started_here = start_ray(address, num_cpus)
    marks["ray"] = time.time()
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
        return list(ds.iter_rows())
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
    from .cli import page_options
    options = page_options(args)
    if args.palette is not None:
        from .palette import parse_palette
        if args.no_flats:
            raise InvalidInputError("--palette snaps region colors: it needs flats "
                                    "(drop --no-flats)")
        options["palette"] = parse_palette(args.palette)
    batch_size = 4
    if args.batch_size is not None:
        try:
            batch_size = int(args.batch_size)
        except ValueError:
            raise InvalidInputError(f"--batch-size must be a whole number of pages (at "
                                    f"least 1), got {args.batch_size!r}") from None
        if batch_size < 1:
            raise InvalidInputError(f"--batch-size must be at least 1, got {batch_size}")
    summary = colorize_dataset(args.inputs, args.output, address=args.ray_address,
                               actors=args.actors, batch_size=batch_size, seed=args.seed, overwrite=args.overwrite,
                               weights=args.weights, backend=args.backend,
                               device=args.device, samples=args.samples, fmt=args.format,
                               size=args.size, **options)
    print(summary, file=sys.stderr if summary.failed else sys.stdout)
    return 1 if summary.failed else 0


__all__ = ["DatasetSummary", "colorize_dataset", "list_pages", "page_seed", "start_ray"]
