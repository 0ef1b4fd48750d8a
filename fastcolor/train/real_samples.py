"""Real low-res samples for training the detector and the polisher on what they will see
(``fastcolor train --real-samples N``).

At inference the detector and the polisher get the low-res colorizer's *samples*, which
pick their own colors and have their own speckles; trained only on noised ground truth,
the detector finds the background far less well on samples (IoU 0.97 on its training
inputs, 0.79 on samples, issue 14). So before training these stages, ``N`` training
panels (and up to ``N`` validation panels) are colored by the current low-res weights
with the fastest generator present (``backends.fastest_generator``: the C++ cached
generator on the CPU), and the stages train on a mix (``losses``).

Sample ``i`` of a split colors panel ``order[i mod n]`` (``order`` a seeded permutation
of the split's ``n`` panels, so up to ``n`` samples are all different panels), from its
exact line art or, with probability ``extracted_fraction`` (drawn per sample), its
extracted outline, with noise seeded by ``(seed, i)``: the samples do not depend on how
many are made or in what chunks.

The samples are cached in ``RUN_DIR/real-samples/{split}-{key}.npz`` (``panel`` int64,
``extracted`` bool, ``lowres`` uint8 ``(N, s, s, 3)``, ``meta`` JSON), ``key`` a hash of
``meta``: the sha256 of the low-res tensors, the data cache, the model sizes, seed,
temperature and outline share. The file is rewritten (atomically) after every chunk, so an
interrupted run continues where it stopped, a second stage (or a resumed one) reuses
it, and asking for more samples later adds to it. New low-res weights give a new key,
hence a new file; a stage's checkpoint names the files it trained on, and ``--resume``
keeps using them.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..atomic import atomic_path
from ..config import FastcolorConfig
from ..dlmm import sample_noise
from ..errors import InvalidInputError
from ..models import FastcolorModel
from ..weights import load_state_into, load_weights

CHUNK = 256          # samples between two writes of the file
BATCH = 16           # samples per generator call


@dataclass
class RealSamples:
    """The low-res samples of one split (see module doc)."""

    panel: np.ndarray       # int64 (N,): index of the panel in the split
    extracted: np.ndarray   # bool (N,): conditioned on the extracted outline
    lowres: np.ndarray      # uint8 (N, s, s, 3)
    path: Path
    meta: dict

    def __len__(self) -> int:
        return int(self.panel.shape[0])

    def head(self, n: int) -> "RealSamples":
        return RealSamples(self.panel[:n], self.extracted[:n], self.lowres[:n], self.path,
                           self.meta)


def lowres_sha256(tensors: dict) -> str:
    """A sha256 of the ``lowres.*`` tensors (names, shapes, dtypes, bytes)."""
    h = hashlib.sha256()
    for k in sorted(t for t in tensors if t.startswith("lowres.")):
        v = tensors[k].detach().cpu().contiguous()
        h.update(f"{k}:{tuple(v.shape)}:{v.dtype}".encode())
        h.update(v.numpy().tobytes())
    return h.hexdigest()


def load_lowres(path, config: FastcolorConfig) -> tuple[FastcolorModel, str]:
    """A model of ``config`` holding the low-res tensors of the weight file ``path``
    -> (model in eval mode, sha256 of the low-res tensors)."""
    cfg, tensors, _ = load_weights(path)
    if (cfg.image_size, cfg.lowres_size, cfg.pixelcnn, cfg.conditioning) != \
            (config.image_size, config.lowres_size, config.pixelcnn, config.conditioning):
        raise InvalidInputError(f"the low-res colorizer of {path} has another config than "
                                f"this run's; sample with weights of the same config")
    model = FastcolorModel(config)
    state = model.state_dict()
    state.update({k: v for k, v in tensors.items() if k.startswith("lowres.")})
    load_state_into(model, state, source=str(path))
    return model.eval(), lowres_sha256(tensors)


def _order(n: int, seed: int, split: str) -> np.ndarray:
    return np.random.default_rng([seed, 7919, 0 if split == "train" else 1]).permutation(n)


def _plan(count: int, n: int, seed: int, split: str, extracted_fraction: float):
    """Panels and outline sources of samples ``0..count-1`` (see module doc)."""
    order = _order(n, seed, split)
    panel = order[np.arange(count) % n]
    extracted = np.array([np.random.default_rng([seed, 104729, i]).random() < extracted_fraction
                          for i in range(count)], bool)
    return panel.astype(np.int64), extracted


def _read(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict] | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            return z["panel"], z["extracted"], z["lowres"], json.loads(str(z["meta"]))
    except (OSError, ValueError, KeyError):
        return None


def _write(path: Path, panel, extracted, lowres, meta: dict) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, panel=panel, extracted=extracted, lowres=lowres,
                            meta=np.asarray(json.dumps(meta, sort_keys=True)))


def make_real_samples(data, model: FastcolorModel, lowres_sha: str, count: int, folder,
                      *, split: str, seed: int, extracted_fraction: float,
                      temperature: float = 1.0, data_id: dict | None = None,
                      progress: bool = False, log=print) -> RealSamples:
    """``count`` samples of ``data`` (a ``TrainData``) from ``model``'s low-res colorizer,
    cached in ``folder`` (see module doc); returns them (the first ``count`` of the file)."""
    if count < 1:
        raise InvalidInputError(f"--real-samples must be >= 1, got {count}")
    cfg = model.config
    meta = {"lowres_sha256": lowres_sha, "data": data_id or {}, "split": split, "seed": seed,
            "extracted_fraction": extracted_fraction, "temperature": temperature,
            "image_size": cfg.image_size, "lowres_size": cfg.lowres_size,
            "panels": len(data)}
    key = hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()[:12]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{split}-{key}.npz"
    s = cfg.lowres_size
    panel, extracted = _plan(count, len(data), seed, split, extracted_fraction)
    lowres = np.zeros((0, s, s, 3), np.uint8)
    old = _read(path) if path.is_file() else None
    if old is not None and old[3] == meta:
        lowres = old[2][:count]
        if len(lowres) >= count:
            log(f"real samples: {count} {split} samples from {path} (cached)")
            return RealSamples(panel, extracted, lowres, path, meta)
    from ..backends import fastest_generator
    generate = fastest_generator(torch.device("cpu"))
    model = model.to("cpu")
    start, t0 = len(lowres), time.time()
    log(f"real samples: making {count - start} {split} samples ({start} cached) in {path}")
    bar = None
    if progress:
        import sys
        from tqdm import tqdm
        bar = tqdm(total=count, initial=start, desc=f"real samples {split}", unit="sample",
                   file=sys.stderr, dynamic_ncols=True, leave=False)
    parts = [lowres]
    done = start
    K = cfg.pixelcnn.mixtures
    with torch.no_grad():
        while done < count:
            stop = min(count, done + CHUNK)
            for b0 in range(done, stop, BATCH):
                b1 = min(stop, b0 + BATCH)
                src = np.where(extracted[b0:b1, None, None], data.extracted[panel[b0:b1]],
                               data.line[panel[b0:b1]])
                outline = 1 - torch.from_numpy(src.astype(np.float32) / 255)[:, None]
                cond = model.lowres.condition(outline)
                noise = torch.cat([sample_noise(1, K, s, s, dtype=cond.dtype, generator=torch
                                                .Generator().manual_seed(seed * 1_000_003 + i))
                                   for i in range(b0, b1)])
                x = generate(model.lowres.pixelcnn, cond, noise=noise, temperature=temperature)
                parts.append(torch.round((x + 1) * 127.5).clamp(0, 255).to(torch.uint8)
                             .permute(0, 2, 3, 1).numpy())
                if bar is not None:
                    bar.update(b1 - b0)
            done = stop
            lowres = np.concatenate(parts)
            parts = [lowres]
            _write(path, panel[:done], extracted[:done], lowres, meta)
    if bar is not None:
        bar.close()
    made = done - start
    log(f"real samples: {made} {split} samples in {time.time() - t0:.1f} s "
        f"({(time.time() - t0) / max(made, 1) * 1000:.1f} ms each)")
    return RealSamples(panel, extracted, lowres, path, meta)


def load_real_samples(path, count: int | None = None) -> RealSamples:
    """The samples of a cache file (a checkpoint names it); the first ``count``."""
    path = Path(path)
    got = _read(path)
    if got is None:
        raise InvalidInputError(f"cannot read the real-samples file {path}")
    panel, extracted, lowres, meta = got
    n = len(lowres) if count is None else min(count, len(lowres))
    return RealSamples(panel[:n], extracted[:n], lowres[:n], path, meta)
