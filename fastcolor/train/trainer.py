"""``fastcolor train``: the training loop of the three stages.

The stages train independently of one another (the detector and the polisher are
teacher-forced on ground-truth low-res colors, see ``losses``; with ``--real-samples``
they also train on the low-res stage's samples, made once before they start), each with
its own optimizer, and write their tensors into one weight file, ``RUN_DIR/weights.safetensors``
(merged: training one stage keeps the others' tensors already in the file), which
``Pipeline.from_pretrained`` loads. A run folder holds:

- ``run.json``: the model config and the data cache it was trained on (every stage of a
  run uses the same config);
- ``checkpoint-STAGE.pt``: the stage's model and optimizer state, epoch, step, position
  in the epoch and RNG states, written every epoch, every ``checkpoint_minutes``, and
  when the wall-clock budget or ``max_steps`` stops the stage; ``--resume`` continues
  from it exactly where it stopped;
- ``log.jsonl``: one line per epoch (train and validation losses, seconds);
- ``summary.json``: per stage the final losses, steps, epochs, seconds per step;
- ``weights.safetensors``: each stage's *best* epoch by validation loss (written when an
  epoch, or the partial epoch a budget stops, beats the best so far; a worse epoch never
  overwrites it); its
  ``fastcolor_training`` metadata (``fastcolor.weights.read_training``) records what it
  was trained from: ``data_fingerprint`` (``data.cache.fingerprint``, the sha256 of the
  cache's ``index.json``), ``data``, ``init_sha256`` (the ``--init`` weights' sha256,
  else null), ``steps`` per stage and, per stage, those of the run that last trained it
  (``stages``: steps, data fingerprint and path, composition, init and its sha256);
- ``epochs/STAGE-epochNNN.safetensors``: with ``--keep-epochs``, the whole weight file
  as it would be with the stage at the end of epoch NNN (better or not), so any epoch can
  be evaluated in the pipeline (``weights.safetensors`` keeps only the best by validation
  loss, which is not always the best on the page);
- ``real-samples/``: with ``--real-samples N``, the low-res colorizer's samples the
  detector and the polisher train on (``real_samples``: made once from the run's own
  low-res weights, else ``--real-samples-from`` / ``--init``, cached, resumable and
  shared by the two stages; validation then also reports ``val_real_*`` figures on
  samples of the validation panels).

Learning rate: on a plateau it is cut (``lr_factor``, default 0.5) after ``patience``
epochs (default 1) whose validation loss does not beat the best by ``min_delta``; after
``lr_cuts`` cuts (default 3) with still no better epoch the stage stops ("train until
validation stops improving"). The best loss, the epochs without improvement and the cuts
are in the checkpoint, so a resumed run keeps them; ``log.jsonl`` records ``lr``,
``best_val_loss`` and ``improved`` per epoch.

Seeds are fixed: model init from ``seed``, the batch order, outline mode, mirroring and
masks from a numpy generator seeded with ``(seed, stage)``, the noise of the inputs from
a torch generator; validation uses its own fixed generators so its losses compare across
epochs.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..atomic import atomic_path, write_atomic
from ..backends import check_device
from ..config import FastcolorConfig
from ..data.cache import fingerprint, load_split, read_index
from ..errors import InvalidInputError
from ..models import FastcolorModel
from ..weights import (DEFAULT_WEIGHTS, load_state_into, load_weights, read_training,
                       save_weights)
from . import losses
from .data import TrainData
from .presets import resolve_config
from .real_samples import RealSamples, load_lowres, load_real_samples, make_real_samples

STAGES = ("lowres", "detector", "polisher")
# --stage all: the share of a single --budget-minutes value each stage gets
BUDGET_SHARES = {"lowres": 0.5, "detector": 0.2, "polisher": 0.3}
DEFAULT_LR = {"lowres": 1e-3, "detector": 5e-4, "polisher": 5e-4}
DEFAULT_BATCH = {"lowres": 16, "detector": 16, "polisher": 16}
CHECKPOINT_FORMAT = 1


# option -> (TrainOptions field, the test a value passes, what it must be)
_STAGE_VALUE_RULES = {
    "--epochs": ("epochs", lambda v: v >= 1, "at least 1"),
    "--batch-size": ("batch_size", lambda v: v >= 1, "at least 1"),
    "--lr": ("lr", lambda v: 0 < v < math.inf, "a positive number"),
    "--budget-minutes": ("budget_minutes", lambda v: v > 0, "a positive number of minutes"),
    "--max-steps": ("max_steps", lambda v: v >= 1, "at least 1"),
}


def _check_stage_value(flag: str, value, stage: str | None = None) -> None:
    rule = _STAGE_VALUE_RULES.get(flag)
    if rule is not None and value is not None and not rule[1](value):
        where = f" for {stage}" if stage else ""
        raise InvalidInputError(f"{flag} must be {rule[2]}, got {value:g}{where}")


def check_stage_values(opts: TrainOptions) -> None:
    """Refuse per-stage values that would train nothing (``--budget-minutes 0``,
    ``--epochs 0``, ...) with the option's name, before anything is loaded."""
    for flag, (attr, _, _) in _STAGE_VALUE_RULES.items():
        for stage, value in (getattr(opts, attr) or {}).items():
            _check_stage_value(flag, value, stage)


def parse_stage_values(text, cast, what: str, split_total: bool = False) -> dict:
    """``"5"`` -> that value for every stage (or, with ``split_total``, ``BUDGET_SHARES``
    of it); ``"lowres=30,detector=10"`` -> per stage (stages not named: None)."""
    if text is None or isinstance(text, dict):
        return dict(text or {})
    if isinstance(text, (int, float)):
        text = str(text)
    text = str(text).strip()
    out: dict = {}
    try:
        if "=" not in text:
            v = cast(text)
            _check_stage_value(what, v)
            return {s: (v * BUDGET_SHARES[s] if split_total else v) for s in STAGES}
        for part in text.split(","):
            k, v = part.split("=")
            k = k.strip()
            if k not in STAGES:
                raise InvalidInputError(f"{what}: unknown stage {k!r} (one of {STAGES})")
            out[k] = cast(v)
            _check_stage_value(what, out[k], k)
    except InvalidInputError:
        raise
    except ValueError:
        raise InvalidInputError(f"{what}: expected a number or stage=value pairs "
                                f"(lowres=..,detector=..,polisher=..), got {text!r}") from None
    return out


@dataclass
class TrainOptions:
    data: str
    out: str
    stage: str = "all"
    config: str | None = None          # preset name or JSON path (default: small)
    image_size: int | None = None
    lowres_size: int | None = None
    epochs: dict = field(default_factory=dict)
    batch_size: dict = field(default_factory=dict)
    lr: dict = field(default_factory=dict)
    budget_minutes: dict = field(default_factory=dict)
    max_steps: dict = field(default_factory=dict)
    device: str = "cpu"
    seed: int = 0
    resume: bool = False
    restart: bool = False
    init: str | None = None
    threads: int | None = None
    extracted_fraction: float = 0.5
    bce_weight: float = 1.0
    figure_weight: float = 1.0         # low-res: NLL weight of the figure's cells
    figure_cells: str = "figure"        # ... all of them, or "colored": not white paper
    aux_color_weight: float = 0.0      # low-res: weight of the auxiliary color loss
    prior_weight: float = 1.0          # low-res with a color prior: weight of its loss
    prior_only: bool = False           # ... train the prior alone, on its loss alone
    warmup_steps: int = 0              # the first N steps ramp the lr up linearly
    adversarial: float = 0.0
    train_limit: int | None = None
    val_limit: int | None = None
    checkpoint_minutes: float = 10.0
    real_samples: int = 0              # detector / polisher: train on N real samples
    real_fraction: float = 0.75        # share of a batch's rows given a real sample
    real_temperature: float = 1.0
    real_samples_from: str | None = None
    patience: int = 1                  # epochs without a better validation loss per lr cut
    lr_factor: float = 0.5             # the cut
    lr_cuts: int = 3                   # cuts without improvement before the stage stops
    min_delta: float = 1e-3            # improvement smaller than this is no improvement
    keep_epochs: bool = False          # also write every finished epoch's weight file
    progress: bool = True
    command: str | None = None

    def stages(self) -> tuple[str, ...]:
        if self.stage == "all":
            return STAGES
        if self.stage not in STAGES:
            raise InvalidInputError(f"--stage must be one of {', '.join(STAGES)} or all, "
                                    f"got {self.stage!r}")
        return (self.stage,)


def _log(msg: str) -> None:
    print(msg, flush=True)


def _atomic_torch_save(obj, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _append_jsonl(path: Path, record: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def _stage_module(model: FastcolorModel, stage: str) -> torch.nn.Module:
    return getattr(model, stage)


class Run:
    """A run folder (see module doc)."""

    def __init__(self, opts: TrainOptions):
        self.opts = opts
        self.dir = Path(opts.out)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.device = check_device(opts.device)
        self.index = read_index(opts.data)
        self.data_fingerprint = fingerprint(opts.data)
        self.init_sha256 = None
        self.config = self._resolve_config()

    def _asked_config(self) -> FastcolorConfig:
        """The config of --config, --image-size and --lowres-size; the image size
        defaults to the data's (on the first run and on every rerun alike)."""
        o = self.opts
        return resolve_config(o.config, o.image_size or self.index["size"], o.lowres_size)

    def _resolve_config(self) -> FastcolorConfig:
        o = self.opts
        run_json = self.dir / "run.json"
        if o.init:
            init_cfg, _, self.init_sha256 = load_weights(o.init)
        if run_json.is_file():
            cfg = FastcolorConfig.from_dict(json.loads(run_json.read_text())["config"])
            if o.config or o.image_size or o.lowres_size:
                asked = self._asked_config()
                if asked != cfg:
                    raise InvalidInputError(
                        f"{run_json} holds another model config ({cfg.image_size}/"
                        f"{cfg.lowres_size} px) than --config {o.config or 'small'} "
                        f"--image-size {asked.image_size} --lowres-size {asked.lowres_size}; "
                        f"every stage of a run uses one config (use another --out, or leave "
                        f"out --config and the sizes)")
            return cfg
        if o.init:
            cfg = init_cfg
        else:
            cfg = self._asked_config()
        write_atomic(run_json, json.dumps({"config": cfg.to_dict(), "data": str(o.data),
                                        "data_size": self.index["size"],
                                        "openmoji_version": self.index.get("openmoji_version"),
                                        "attribution": self.index.get("attribution")},
                                       indent=1))
        return cfg

    # ---- weights ------------------------------------------------------------------
    @property
    def weights_path(self) -> Path:
        return self.dir / "weights.safetensors"

    def training_record(self, stage: str, steps: int | None) -> dict:
        """What ``stage`` was trained from (the ``stages`` entries of the weights'
        ``fastcolor_training`` metadata)."""
        return {"steps": steps, "data_fingerprint": self.data_fingerprint,
                "data": str(self.opts.data), "composition": self.index.get("composition"),
                "init": self.opts.init, "init_sha256": self.init_sha256}

    def epoch_weights_path(self, stage: str, epoch: int) -> Path:
        return self.dir / "epochs" / f"{stage}-epoch{epoch:03d}.safetensors"

    def write_weights(self, model: FastcolorModel, stage: str, steps: int | None = None,
                      path=None) -> str:
        """Write ``model``'s ``stage`` tensors into the run's weight file, keeping the
        other stages' tensors already there (the first time, with ``--init``, those of the
        init weights, so fine-tuning one stage keeps the others); returns the sha256. The
        file's ``fastcolor_training`` metadata (see the module doc) gets this stage's record.
        ``path``: write the merged file there instead (``--keep-epochs``), the run's
        weight file left as it is."""
        merged = FastcolorModel(self.config)
        training, kept = None, False
        if self.weights_path.is_file():
            cfg, tensors, _ = load_weights(self.weights_path)
            if cfg == self.config:
                load_state_into(merged, tensors, source=str(self.weights_path))
                training, kept = read_training(self.weights_path), True
        if not kept and self.opts.init:
            _, tensors, _ = load_weights(self.opts.init)
            load_state_into(merged, tensors, source=f"--init {self.opts.init}")
        training = training if isinstance(training, dict) else {}
        stages = training.get("stages") if isinstance(training.get("stages"), dict) else {}
        stages[stage] = self.training_record(stage, steps)
        training = {"stages": stages, "data_fingerprint": self.data_fingerprint,
                    "data": str(self.opts.data), "init_sha256": self.init_sha256,
                    "steps": {k: v.get("steps") for k, v in stages.items()}}
        own = {k: v for k, v in model.state_dict().items() if k.startswith(stage + ".")}
        state = merged.state_dict()
        state.update({k: v.detach().cpu() for k, v in own.items()})
        merged.load_state_dict(state)
        out = self.weights_path if path is None else Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        return save_weights(merged, out, training=training)

    def init_model(self, stage: str) -> FastcolorModel:
        torch.manual_seed(self.opts.seed + STAGES.index(stage))
        model = FastcolorModel(self.config)
        if self.opts.init:
            cfg, tensors, _ = load_weights(self.opts.init)
            load_state_into(model, tensors, source=f"--init {self.opts.init}")
        return model.to(self.device)


class StageTrainer:
    """Trains one stage (see module doc)."""

    def __init__(self, run: Run, stage: str, train: TrainData, val: TrainData):
        self.run, self.stage, self.opts = run, stage, run.opts
        self.train_data, self.val_data = train, val
        o = self.opts
        self.epochs = int(_given(o.epochs.get(stage), 10))
        self.batch_size = int(_given(o.batch_size.get(stage), DEFAULT_BATCH[stage]))
        self.lr = float(_given(o.lr.get(stage), DEFAULT_LR[stage]))
        budget = o.budget_minutes.get(stage)
        self.budget_s = None if budget is None else float(budget) * 60
        self.max_steps = o.max_steps.get(stage)
        if self.batch_size < 1 or self.epochs < 1:
            raise InvalidInputError(f"{stage}: epochs and batch size must be >= 1")
        self.ckpt_path = run.dir / f"checkpoint-{stage}.pt"
        self.model = run.init_model(stage)
        self.module = _stage_module(self.model, stage)
        self.params = list(self.module.parameters())
        betas = (0.9, 0.999) if stage == "lowres" else (0.5, 0.999)
        self.opt = torch.optim.Adam(self.params, lr=self.lr, betas=betas)
        if stage == "lowres" and o.prior_only and self.module.prior is None:
            raise InvalidInputError("--prior-only: the model has no color prior (config "
                                    "conditioning.prior_widths; scripts/add_context_blocks.py "
                                    "--prior-widths adds one to trained weights)")
        self.color_head = None
        if stage == "lowres" and o.aux_color_weight > 0:
            with torch.random.fork_rng(devices=[]):      # its init from the seed alone
                torch.manual_seed(o.seed)
                self.color_head = torch.nn.Conv2d(run.config.pixelcnn.cond_channels, 3,
                                                  1).to(run.device)
            self.opt.add_param_group({"params": list(self.color_head.parameters())})
        self.disc = self.disc_opt = None
        if stage == "polisher" and o.adversarial > 0:
            self.disc = losses.PatchDiscriminator().to(run.device)
            self.disc_opt = torch.optim.Adam(self.disc.parameters(), lr=self.lr, betas=(0.5, 0.999))
        self.rng = np.random.default_rng([o.seed, STAGES.index(stage)])
        self.gen = torch.Generator().manual_seed(o.seed * 1000 + STAGES.index(stage))
        self.epoch = 0
        self.step = 0
        self.batch_in_epoch = 0
        self.perm: np.ndarray | None = None
        self.history: list[dict] = []
        self.seconds = 0.0            # training time over all sessions (steps only)
        self.epoch_loss_sum = 0.0
        self.epoch_loss_n = 0
        self.real_train: RealSamples | None = None
        self.real_val: RealSamples | None = None
        self.real_files: dict | None = None       # from the checkpoint being resumed
        self.best_val: float | None = None        # best validation loss so far
        self.best_epoch: int | None = None
        self.bad_epochs = 0                       # epochs since the best, since the last cut
        self.cuts_since_best = 0

    # ---- real samples -----------------------------------------------------------------
    def attach_real_samples(self, provider) -> None:
        """Detector / polisher with ``--real-samples``: the samples a resumed checkpoint
        trained on (if their files are still there), else ``provider()``'s."""
        if self.stage == "lowres":
            return
        files = self.real_files
        if files and Path(files["train"]).is_file():
            self.real_train = load_real_samples(files["train"], files["train_count"])
            if files.get("val") and Path(files["val"]).is_file():
                self.real_val = load_real_samples(files["val"], files["val_count"])
            _log(f"{self.stage}: training on the real samples of the checkpoint, "
                 f"{files['train']} ({len(self.real_train)})")
            return
        if self.opts.real_samples > 0:
            self.real_train, self.real_val = provider()

    def _real_state(self) -> dict | None:
        if self.real_train is None:
            return None
        val = self.real_val
        return {"train": str(self.real_train.path), "train_count": len(self.real_train),
                "val": None if val is None else str(val.path),
                "val_count": 0 if val is None else len(val),
                "lowres_sha256": self.real_train.meta.get("lowres_sha256"),
                "temperature": self.real_train.meta.get("temperature")}

    # ---- checkpoints ----------------------------------------------------------------
    def state(self) -> dict:
        return {
            "format": CHECKPOINT_FORMAT, "stage": self.stage,
            "config": self.run.config.to_dict(),
            "module": {k: v.detach().cpu() for k, v in self.module.state_dict().items()},
            "optimizer": self.opt.state_dict(),
            "disc": None if self.disc is None else self.disc.state_dict(),
            "color_head": None if self.color_head is None else self.color_head.state_dict(),
            "disc_optimizer": None if self.disc_opt is None else self.disc_opt.state_dict(),
            "epoch": self.epoch, "step": self.step, "batch_in_epoch": self.batch_in_epoch,
            "perm": self.perm, "rng": self.rng.bit_generator.state,
            "torch_gen": self.gen.get_state(), "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            "history": self.history, "seconds": self.seconds,
            "epoch_loss": [self.epoch_loss_sum, self.epoch_loss_n],
            "batch_size": self.batch_size, "lr": self.lr,
            "real_samples": self._real_state(),
            "plateau": {"best_val": self.best_val, "best_epoch": self.best_epoch,
                        "bad_epochs": self.bad_epochs, "cuts_since_best": self.cuts_since_best},
        }

    def save_checkpoint(self) -> None:
        _atomic_torch_save(self.state(), self.ckpt_path)

    def load_checkpoint(self) -> None:
        ck = torch.load(self.ckpt_path, map_location="cpu", weights_only=False)
        if ck.get("format") != CHECKPOINT_FORMAT or ck.get("stage") != self.stage:
            raise InvalidInputError(f"{self.ckpt_path} is not a {self.stage} checkpoint of "
                                    f"this fastcolor")
        if FastcolorConfig.from_dict(ck["config"]) != self.run.config:
            raise InvalidInputError(f"{self.ckpt_path} was trained with another config")
        if (ck.get("color_head") is None) != (self.color_head is None):
            raise InvalidInputError(f"{self.ckpt_path} was trained "
                                    f"{'with' if ck.get('color_head') else 'without'} "
                                    "--aux-color-weight: resume it the same way")
        self.module.load_state_dict(ck["module"])
        if self.color_head is not None:
            self.color_head.load_state_dict(ck["color_head"])
        self.opt.load_state_dict(ck["optimizer"])
        if self.disc is not None and ck.get("disc") is not None:
            self.disc.load_state_dict(ck["disc"])
            self.disc_opt.load_state_dict(ck["disc_optimizer"])
        self.epoch, self.step = ck["epoch"], ck["step"]
        self.batch_in_epoch, self.perm = ck["batch_in_epoch"], ck["perm"]
        self.rng.bit_generator.state = ck["rng"]
        self.gen.set_state(ck["torch_gen"])
        torch.set_rng_state(ck["torch_rng"])
        if ck.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(ck["cuda_rng"])
        self.history = ck["history"]
        self.seconds = ck["seconds"]
        self.epoch_loss_sum, self.epoch_loss_n = ck["epoch_loss"]
        self.real_files = ck.get("real_samples")
        plateau = ck.get("plateau")
        if plateau:     # checkpoints from before best-keeping: the next epoch is the best
            self.best_val, self.best_epoch = plateau["best_val"], plateau["best_epoch"]
            self.bad_epochs = plateau["bad_epochs"]
            self.cuts_since_best = plateau["cuts_since_best"]

    # ---- one step ---------------------------------------------------------------------
    def compute_loss(self, batch: dict, rng, gen, train: bool):
        if self.stage == "lowres":
            loss, figs = losses.lowres_loss(self.model, batch, self.opts.figure_weight,
                                             self.opts.figure_cells, self.color_head,
                                             self.opts.aux_color_weight,
                                             self.opts.prior_weight, self.opts.prior_only)
            return loss, figs, None
        if self.stage == "detector":
            loss, figs = losses.detector_loss(self.model, batch, gen, self.opts.bce_weight)
            return loss, figs, None
        loss, figs, out = losses.polisher_loss(self.model, batch, rng, gen,
                                               self.disc if train else None,
                                               self.opts.adversarial)
        return loss, figs, out

    def train_step(self, idx) -> float:
        real_idx = None
        if self.real_train is not None:
            n, m = len(idx), len(self.real_train)
            real_idx = np.where(self.rng.random(n) < self.opts.real_fraction,
                                self.rng.integers(m, size=n), -1)
        batch = self.train_data.batch(idx, self.rng, self.opts.extracted_fraction,
                                      device=self.run.device, real=self.real_train,
                                      real_idx=real_idx)
        self.module.train()
        loss, figs, out = self.compute_loss(batch, self.rng, self.gen, train=True)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"{self.stage}: loss is {float(loss)} at step {self.step}")
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.warm_up()
        self.opt.step()
        if self.disc is not None and out is not None:
            d_loss = losses.discriminator_loss(self.disc, batch, out)
            self.disc_opt.zero_grad(set_to_none=True)
            d_loss.backward()
            self.disc_opt.step()
        return float(loss.detach())

    def warm_up(self) -> None:
        """``--warmup-steps N``: the stage's first N steps ramp the lr linearly up to its
        value (step i at ``lr (i + 1) / N``). Adam's first updates move every weight by
        about the lr whatever its gradient, which knocks trained weights about when a
        fine-tune starts (the low-res NLL jumped from 2.0 to 3.5-4.6 in the first hundred
        steps of every fine-tune of the shipped stage); the ramp lets the moment estimates
        settle first."""
        n = self.opts.warmup_steps
        if n and self.step <= n:
            for g in self.opt.param_groups:
                g["lr"] = self.lr * min(self.step + 1, n) / n

    @torch.no_grad()
    def validate(self) -> dict:
        data = self.val_data
        rng = np.random.default_rng([12345, STAGES.index(self.stage)])
        gen = torch.Generator().manual_seed(12345)
        self.module.eval()
        out = self._validate_pass(data, rng, gen, "val", len(data))
        if self.real_val is not None and len(self.real_val):
            rng = np.random.default_rng([12346, STAGES.index(self.stage)])
            gen = torch.Generator().manual_seed(12346)
            out.update(self._validate_pass(data, rng, gen, "val_real", len(self.real_val),
                                           real=self.real_val))
        return out

    def _validate_pass(self, data, rng, gen, prefix: str, count: int, real=None) -> dict:
        """Mean loss and figures over ``count`` validation rows: the panels in order or,
        with ``real``, the real samples in order (each on its own panel)."""
        total, figs_sum, n = 0.0, {}, 0
        bs = self.batch_size
        for start in range(0, count, bs):
            rows = np.arange(start, min(start + bs, count))
            idx = rows if real is None else real.panel[rows]
            batch = data.batch(idx, rng, self.opts.extracted_fraction, flip=False,
                               device=self.run.device, real=real,
                               real_idx=None if real is None else rows)
            loss, figs, _ = self.compute_loss(batch, rng, gen, train=False)
            k = len(idx)
            total += float(loss) * k
            for key, v in figs.items():
                figs_sum[key] = figs_sum.get(key, 0.0) + v * k
            n += k
        out = {f"{prefix}_loss": total / max(n, 1)}
        out.update({f"{prefix}_{k}": v / max(n, 1) for k, v in figs_sum.items()})
        return out

    # ---- the plateau ------------------------------------------------------------------
    @property
    def current_lr(self) -> float:
        return float(self.opt.param_groups[0]["lr"])

    def note_validation(self, rec: dict) -> bool:
        """Update the best loss and the plateau counters with an epoch's record; cut the
        learning rate after ``patience`` epochs without improvement. True when this epoch
        is the best so far (its weights are to be written)."""
        o, val = self.opts, rec.get("val_loss")
        improved = (val is None or self.best_val is None
                    or val < self.best_val - o.min_delta)
        if improved:
            if val is not None:
                self.best_val, self.best_epoch = float(val), rec["epoch"]
            self.bad_epochs = self.cuts_since_best = 0
        else:
            self.bad_epochs += 1
            if self.bad_epochs >= o.patience and self.cuts_since_best < o.lr_cuts:
                for g in self.opt.param_groups:
                    g["lr"] *= o.lr_factor
                if self.disc_opt is not None:
                    for g in self.disc_opt.param_groups:
                        g["lr"] *= o.lr_factor
                self.bad_epochs = 0
                self.cuts_since_best += 1
                _log(f"{self.stage}: no better validation loss for {o.patience} epoch(s) "
                     f"(best {self.best_val:.4f} at epoch {self.best_epoch}); learning rate "
                     f"cut to {self.current_lr:.3g}")
        rec.update(improved=bool(improved), best_val_loss=self.best_val,
                   lr=self.current_lr)
        return bool(improved)

    def plateaued(self) -> bool:
        """``lr_cuts`` cuts and ``patience`` more epochs without a better validation loss."""
        o = self.opts
        return self.cuts_since_best >= o.lr_cuts and self.bad_epochs >= o.patience

    # ---- the loop -----------------------------------------------------------------
    def finished(self) -> bool:
        return self.epoch >= self.epochs or (self.max_steps is not None
                                             and self.step >= self.max_steps)

    def end_epoch_record(self, partial: bool, session_start_step: int, t_session: float) -> dict:
        rec = {"stage": self.stage, "epoch": self.epoch + 1,
               "partial_epoch": partial, "step": self.step,
               "train_loss": (self.epoch_loss_sum / self.epoch_loss_n
                              if self.epoch_loss_n else None),
               "seconds": round(self.seconds, 1)}
        rec.update(self.validate())
        steps = self.step - session_start_step
        rec["s_per_step"] = round(t_session / steps, 4) if steps else None
        self.note_validation(rec)
        self.history.append(rec)
        _append_jsonl(self.run.dir / "log.jsonl", rec)
        val_extra = ", ".join(f"{k[4:]} {v:.4f}" for k, v in rec.items()
                              if k.startswith("val_") and k != "val_loss")
        train_loss = "-" if rec["train_loss"] is None else f"{rec['train_loss']:.4f}"
        best = "" if rec["improved"] else f", best {rec['best_val_loss']:.4f}"
        _log(f"{self.stage} epoch {rec['epoch']}{' (partial)' if partial else ''}: step "
             f"{self.step}, train {train_loss}, val {rec['val_loss']:.4f}"
             + (f" ({val_extra})" if val_extra else "")
             + (" (best so far)" if rec["improved"] else best) + f"; lr {rec['lr']:.3g}")
        return rec

    def fit(self) -> dict:
        o = self.opts
        n = len(self.train_data)
        bs = min(self.batch_size, n)
        per_epoch = max(1, n // bs)
        t_start = time.time()
        session_start_step = self.step
        t_train = 0.0
        last_ckpt = time.time()
        stopped_by = None
        sha = None                      # of the weights file, when this session wrote it
        if self.finished():
            more = "--epochs" if self.epoch >= self.epochs else "--max-steps"
            _log(f"{self.stage}: already trained ({self.epoch} epochs, {self.step} steps); "
                 f"raise {more} to train more")
            return {"skipped": True}
        _log(f"{self.stage}: {n} panels, batch {bs}, {per_epoch} steps/epoch, epochs "
             f"{self.epoch}->{self.epochs}, lr {self.lr}, budget "
             f"{'none' if self.budget_s is None else f'{self.budget_s / 60:.1f} min'}, "
             f"device {self.run.device}")
        while not self.finished():
            if self.perm is None:
                self.perm = self.rng.permutation(n)
                self.batch_in_epoch = 0
                self.epoch_loss_sum, self.epoch_loss_n = 0.0, 0
            bar = None
            if o.progress:
                from tqdm import tqdm
                bar = tqdm(total=per_epoch, initial=self.batch_in_epoch, file=sys.stderr,
                           desc=f"{self.stage} {self.epoch + 1}/{self.epochs}", unit="step",
                           dynamic_ncols=True, leave=False)
            while self.batch_in_epoch < per_epoch:
                if self.budget_s is not None and time.time() - t_start >= self.budget_s:
                    stopped_by = "budget"
                    break
                if self.max_steps is not None and self.step >= self.max_steps:
                    stopped_by = "max_steps"
                    break
                b = self.batch_in_epoch
                t0 = time.time()
                loss = self.train_step(self.perm[b * bs:(b + 1) * bs])
                dt = time.time() - t0
                t_train += dt
                self.seconds += dt
                self.batch_in_epoch += 1
                self.step += 1
                self.epoch_loss_sum += loss
                self.epoch_loss_n += 1
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss:.4f}",
                                    avg=f"{self.epoch_loss_sum / self.epoch_loss_n:.4f}")
                if time.time() - last_ckpt >= o.checkpoint_minutes * 60:
                    self.save_checkpoint()
                    last_ckpt = time.time()
            if bar is not None:
                bar.close()
            if stopped_by:
                break
            rec = self.end_epoch_record(False, session_start_step, t_train)
            self.epoch += 1
            self.perm = None
            self.batch_in_epoch = 0
            self.save_checkpoint()
            if rec["improved"]:
                sha = self.run.write_weights(self.model, self.stage, self.step)
            if o.keep_epochs:
                self.run.write_weights(self.model, self.stage, self.step,
                                       path=self.run.epoch_weights_path(self.stage, self.epoch))
            last_ckpt = time.time()
            if self.plateaued() and not self.finished():
                stopped_by = "plateau"
                _log(f"{self.stage}: validation stopped improving (best {self.best_val:.4f} "
                     f"at epoch {self.best_epoch}, {self.opts.lr_cuts} learning-rate cuts "
                     f"since); the weights hold that epoch")
                break
        if stopped_by in ("budget", "max_steps"):
            _log(f"{self.stage}: stopped by {'the wall-clock budget' if stopped_by == 'budget' else '--max-steps'} "
                 f"at step {self.step} (epoch {self.epoch + 1}, batch {self.batch_in_epoch}/{per_epoch})")
            rec = self.end_epoch_record(True, session_start_step, t_train)
            self.save_checkpoint()
            if rec["improved"]:
                sha = self.run.write_weights(self.model, self.stage, self.step)
        steps = self.step - session_start_step
        last = self.history[-1] if self.history else {}
        summary = {
            "epochs_done": self.epoch, "epochs": self.epochs, "steps": self.step,
            "stopped_by": stopped_by, "batch_size": bs, "lr": self.lr,
            "train_loss": last.get("train_loss"), "val_loss": last.get("val_loss"),
            **{k: v for k, v in last.items() if k.startswith("val_")},
            "train_seconds": round(self.seconds, 1),
            "session_wall_seconds": round(time.time() - t_start, 1),
            "s_per_step": round(t_train / steps, 4) if steps else None,
            "panels_train": n, "panels_val": len(self.val_data),
            "real_samples": self._real_state(),
            "plateau": {"best_val": self.best_val, "best_epoch": self.best_epoch,
                        "bad_epochs": self.bad_epochs, "cuts_since_best": self.cuts_since_best},
        }
        if sha is None:     # no better epoch this session: the file keeps the best one
            sha = (load_weights(self.run.weights_path)[2] if self.best_val is not None
                   and self.run.weights_path.is_file()
                   else self.run.write_weights(self.model, self.stage, self.step))
        summary["weights_sha256"] = sha
        summary["best_val_loss"], summary["best_epoch"] = self.best_val, self.best_epoch
        summary["lr_final"] = self.current_lr
        return summary


def _limit(n: int | None) -> int | None:
    return None if n is None or n <= 0 else n


def _given(value, default):
    """``value`` unless it is None (0 is a value, and refused by ``check_stage_values``)."""
    return default if value is None else value


def lowres_source(run: Run) -> str:
    """The weights the real samples come from: ``--real-samples-from``, else the run's own
    weight file once this run has trained the low-res stage, else ``--init``."""
    o = run.opts
    if o.real_samples_from:
        return o.real_samples_from
    if (run.dir / "checkpoint-lowres.pt").is_file() and run.weights_path.is_file():
        return str(run.weights_path)
    if o.init:
        return o.init
    raise InvalidInputError(
        "--real-samples needs a trained low-res colorizer: train --stage lowres in this "
        "run first (or --stage all), or give --real-samples-from WEIGHTS or --init WEIGHTS")


def _make_real_samples(run: Run, train_data: TrainData, val_data: TrainData):
    """(train, val) real samples of ``--real-samples N`` (val: up to N, one per panel)."""
    o = run.opts
    source = lowres_source(run)
    model, sha = load_lowres(source, run.config)
    _log(f"real samples: low-res colorizer of {source} (low-res sha256 {sha[:12]}), "
         f"temperature {o.real_temperature}")
    data_id = {"path": str(Path(o.data).resolve()), "size": run.index["size"],
               "seed": run.index.get("seed"), "composition": run.index.get("composition")}
    common = dict(seed=o.seed, extracted_fraction=o.extracted_fraction,
                  temperature=o.real_temperature, data_id=data_id, progress=o.progress,
                  log=_log)
    folder = run.dir / "real-samples"
    train = make_real_samples(train_data, model, sha, o.real_samples, folder, split="train",
                              **common)
    n_val = min(o.real_samples, len(val_data))
    val = make_real_samples(val_data, model, sha, n_val, folder, split="val", **common) \
        if n_val else None
    return train, val


def train(opts: TrainOptions) -> dict:
    """Train the stages of ``opts`` (see module doc); returns the summary."""
    if opts.real_samples < 0 or not 0 <= opts.real_fraction <= 1:
        raise InvalidInputError("--real-samples must be >= 0 and --real-fraction in [0, 1]")
    if opts.threads:
        torch.set_num_threads(opts.threads)
    if (isinstance(opts.patience, bool) or not isinstance(opts.patience, int) or opts.patience < 1
            or isinstance(opts.lr_cuts, bool) or not isinstance(opts.lr_cuts, int)
            or opts.lr_cuts < 0 or not 0 < opts.lr_factor < 1):
        raise InvalidInputError("--patience must be an integer >= 1, --lr-cuts an integer "
                                ">= 0 and the lr factor in (0, 1)")
    if not (math.isfinite(opts.figure_weight) and opts.figure_weight > 0):
        raise InvalidInputError(f"--figure-weight must be a number > 0, got {opts.figure_weight}")
    if not (math.isfinite(opts.aux_color_weight) and opts.aux_color_weight >= 0):
        raise InvalidInputError(f"--aux-color-weight must be a number >= 0, got "
                                f"{opts.aux_color_weight}")
    if (isinstance(opts.warmup_steps, bool) or not isinstance(opts.warmup_steps, int)
            or opts.warmup_steps < 0):
        raise InvalidInputError(f"--warmup-steps must be an integer >= 0, got {opts.warmup_steps!r}")
    if not (math.isfinite(opts.prior_weight) and opts.prior_weight >= 0):
        raise InvalidInputError(f"--prior-weight must be a number >= 0, got {opts.prior_weight}")
    if opts.prior_only and opts.stage != "lowres":
        raise InvalidInputError("--prior-only trains the low-res stage's color prior: use it "
                                "with --stage lowres")
    if opts.prior_only and (opts.aux_color_weight > 0 or opts.figure_weight != 1.0):
        raise InvalidInputError("--prior-only trains the color prior on its own loss: it "
                                "takes no --aux-color-weight or --figure-weight")
    if opts.figure_cells not in ("figure", "colored"):
        raise InvalidInputError(f"--figure-cells must be figure or colored, got {opts.figure_cells!r}")
    if not 0 <= opts.extracted_fraction <= 1:
        raise InvalidInputError("--extracted-fraction must be in [0, 1]")
    check_stage_values(opts)
    stages = opts.stages()
    if opts.init == "default" and not Path("default").exists():
        opts.init = str(DEFAULT_WEIGHTS)           # --init default: the shipped weights
    run = Run(opts)
    cfg = run.config
    source = f"images from {run.index.get('source')}" if run.index["composition"] == "images" \
        else f"OpenMoji {run.index.get('openmoji_version')}, CC BY-SA 4.0"
    _log(f"fastcolor train: stages {', '.join(stages)}; data {opts.data} ({run.index['size']} px, "
         f"{source}; fingerprint {run.data_fingerprint[:12]}); model "
         f"{cfg.image_size}/{cfg.lowres_size}; run {run.dir}; torch threads "
         f"{torch.get_num_threads()}")
    for stage in stages:            # before loading the data: fail fast
        ckpt = run.dir / f"checkpoint-{stage}.pt"
        if ckpt.is_file() and not (opts.resume or opts.restart):
            raise InvalidInputError(
                f"{ckpt} exists: pass --resume to continue it or --restart to train "
                f"{stage} again from scratch")
    t0 = time.time()
    train_panels = load_split(opts.data, "train", _limit(opts.train_limit))
    val_panels = load_split(opts.data, "val", _limit(opts.val_limit))
    train_data = TrainData(train_panels, cfg.image_size, cfg.lowres_size)
    val_data = TrainData(val_panels, cfg.image_size, cfg.lowres_size)
    _log(f"data: {len(train_data)} train / {len(val_data)} val panels loaded in "
         f"{time.time() - t0:.1f} s")
    summary_path = run.dir / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    summary.setdefault("stages", {})
    real_cache: list = []

    def real_samples() -> tuple[RealSamples, RealSamples | None]:
        if not real_cache:
            real_cache.append(_make_real_samples(run, train_data, val_data))
        return real_cache[0]

    for stage in stages:
        trainer = StageTrainer(run, stage, train_data, val_data)
        if trainer.ckpt_path.is_file() and opts.resume:
            trainer.load_checkpoint()
            _log(f"{stage}: resuming from {trainer.ckpt_path} at epoch {trainer.epoch}, "
                 f"step {trainer.step}")
        if not trainer.finished():
            trainer.attach_real_samples(real_samples)
        result = trainer.fit()
        if result.get("skipped"):
            continue
        summary["stages"][stage] = result
        summary["config"] = cfg.to_dict()
        summary["data"] = {"path": str(opts.data), "size": run.index["size"],
                           "train_panels": len(train_data), "val_panels": len(val_data),
                           "openmoji_version": run.index.get("openmoji_version"),
                           "license": None if run.index["composition"] == "images"
                           else "CC BY-SA 4.0 (OpenMoji)",
                           "composition": run.index["composition"],
                           "fingerprint": run.data_fingerprint}
        summary["options"] = {k: v for k, v in asdict(opts).items() if k != "progress"}
        summary["weights"] = str(run.weights_path)
        summary["weights_sha256"] = result["weights_sha256"]
        summary["torch_threads"] = torch.get_num_threads()
        write_atomic(summary_path, json.dumps(summary, indent=1, default=str))
    _log(f"wrote {run.weights_path} ({time.time() - t0:.0f} s); summary in {summary_path}")
    return summary

