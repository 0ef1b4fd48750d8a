"""Training: batches, losses, two-step runs of each stage, resume, the weight file."""

import json

import numpy as np
import pytest
import torch

from fastcolor.cli import main
from fastcolor.config import FastcolorConfig
from fastcolor.data.build import build_dataset
from fastcolor.data.cache import load_split
from fastcolor.errors import InvalidInputError
from fastcolor.pipeline import Pipeline
from fastcolor.train import TrainOptions, parse_stage_values, resolve_config, train
from fastcolor.train import losses
from fastcolor.train.data import TrainData, lowres_targets
from fastcolor.weights import load_weights

EMOJI = ["1F600", "1F34E", "1F431", "1F697", "1F33B", "1F388", "1F955", "1F99C"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    out = tmp_path_factory.mktemp("cache")
    build_dataset(out, size=32, panels=8, val_panels=4, seed=0, val_fraction=0.5,
                  hexcodes=EMOJI, progress=False)
    return out


def options(cache, out, stage, steps=2, **kw):
    return TrainOptions(data=str(cache), out=str(out), stage=stage, config="tiny",
                        epochs={s: 1 for s in ("lowres", "detector", "polisher")},
                        batch_size={s: 2 for s in ("lowres", "detector", "polisher")},
                        max_steps={s: steps for s in ("lowres", "detector", "polisher")},
                        progress=False, threads=2, **kw)


# ---- pieces -----------------------------------------------------------------------------

def _tiny_lowres_batch():
    """A tiny float64 model and a batch of 2 panels whose top half is panel background."""
    from fastcolor.models import FastcolorModel
    torch.manual_seed(0)
    model = FastcolorModel(FastcolorConfig.tiny(32, 8)).double()
    target = torch.round((torch.rand(2, 3, 8, 8, dtype=torch.float64) * 2 - 1) * 127.5) / 127.5
    background = torch.zeros(2, 1, 32, 32, dtype=torch.float64)
    background[:, :, :16] = 1                          # the top half is panel background
    batch = {"outline": torch.rand(2, 1, 32, 32, dtype=torch.float64), "lowres": target,
             "background": background}
    return model, target, background, batch


def test_lowres_loss_figure_weight():
    model, target, background, batch = _tiny_lowres_batch()
    plain, figs = losses.lowres_loss(model, batch)
    assert plain.item() == pytest.approx(figs["nll_bpd"])
    from fastcolor.dlmm import dlmm_log_prob
    nll = -dlmm_log_prob(model.lowres(batch["outline"], target), target) / (3 * np.log(2))
    top, bottom = nll[:, :4].mean().item(), nll[:, 4:].mean().item()
    weighted, figs = losses.lowres_loss(model, batch, figure_weight=3.0)
    assert weighted.item() == pytest.approx((top + 3 * bottom) / 4)
    assert figs["nll_bpd"] == pytest.approx(plain.item())          # reported: the plain NLL
    white = target.clone()
    white[:, :, 4:, :4] = 1                                        # figure's left half white paper
    batch["lowres"] = white
    nll = -dlmm_log_prob(model.lowres(batch["outline"], white), white) / (3 * np.log(2))
    colored, _ = losses.lowres_loss(model, batch, 3.0, figure_cells="colored")
    w = torch.ones(2, 8, 8, dtype=torch.float64)
    w[:, 4:, 4:] = 3
    assert colored.item() == pytest.approx(((nll * w).sum() / w.sum()).item())
    batch["lowres"] = target
    batch["background"] = torch.ones_like(background)              # no figure: plain NLL
    assert losses.lowres_loss(model, batch, 5.0)[0].item() == pytest.approx(plain.item())
    weighted.backward()                                            # it trains


def test_lowres_loss_auxiliary_colors():
    model, target, background, batch = _tiny_lowres_batch()
    plain, _ = losses.lowres_loss(model, batch)
    head = torch.nn.Conv2d(model.config.pixelcnn.cond_channels, 3, 1).double()
    loss, figs = losses.lowres_loss(model, batch, color_head=head, color_weight=2.0)
    colors = head(model.lowres.condition(batch["outline"]))
    l1 = (colors - target).abs().mean(dim=1)[:, 4:].mean()        # the figure's cells only
    assert figs["color_l1"] == pytest.approx(l1.item())
    assert loss.item() == pytest.approx(plain.item() + 2 * l1.item())
    assert figs["nll_bpd"] == pytest.approx(plain.item())
    loss.backward()
    assert head.weight.grad.abs().sum() > 0                        # the head trains
    assert model.lowres.conditioning.stem.weight.grad.abs().sum() > 0   # and the net under it


def _tiny_prior_config():
    import dataclasses
    cfg = FastcolorConfig.tiny(32, 8)
    return dataclasses.replace(cfg, conditioning=dataclasses.replace(
        cfg.conditioning, prior_widths=(4, 8, 8), prior_dilations=(1, 2)))


def test_lowres_loss_with_color_prior():
    from fastcolor.models import FastcolorModel
    _, target, background, batch = _tiny_lowres_batch()
    torch.manual_seed(0)
    model = FastcolorModel(_tiny_prior_config()).double()
    with torch.no_grad():
        model.lowres.prior.inject.weight.normal_()       # the prior's features reach the NLL
    cond, colors = model.lowres.condition_and_prior(batch["outline"])
    from fastcolor.dlmm import dlmm_log_prob
    nll = (-dlmm_log_prob(model.lowres.pixelcnn(target, cond), target) / (3 * np.log(2))).mean()
    err = (colors - target).abs().mean(dim=1)
    w = torch.full_like(err, losses.PRIOR_BACKGROUND_WEIGHT)
    w[:, 4:] += 1                                                  # the figure's cells
    l1 = ((err * w).sum() / w.sum()).item()
    loss, figs = losses.lowres_loss(model, batch, prior_weight=0.5)
    assert figs["prior_l1"] == pytest.approx(l1) and figs["nll_bpd"] == pytest.approx(nll.item())
    assert loss.item() == pytest.approx(nll.item() + 0.5 * l1)
    loss.backward()
    assert model.lowres.prior.colors.weight.grad.abs().sum() > 0
    assert model.lowres.prior.inject.weight.grad.abs().sum() > 0
    model.zero_grad(set_to_none=True)
    only, figs = losses.lowres_loss(model, batch, prior_only=True)
    assert only.item() == pytest.approx(l1) and set(figs) == {"prior_l1"}
    only.backward()
    assert all(p.grad is None for p in model.lowres.pixelcnn.parameters())
    assert model.lowres.prior.stem.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="color prior"):
        losses.lowres_loss(_tiny_lowres_batch()[0], batch, prior_only=True)


def test_prior_only_trains_the_prior_alone(cache, tmp_path):
    config = tmp_path / "prior.json"
    config.write_text(_tiny_prior_config().to_json())
    first = tmp_path / "first"
    opts = options(cache, first, "lowres", steps=2)
    opts.config = str(config)
    train(opts)
    _, before, _ = load_weights(first / "weights.safetensors")
    run = tmp_path / "prior"
    opts = options(cache, run, "lowres", steps=3, init=str(first / "weights.safetensors"),
                   prior_only=True)
    opts.config = None
    summary = train(opts)
    assert summary["stages"]["lowres"]["steps"] == 3
    _, after, _ = load_weights(run / "weights.safetensors")
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("lowres.prior.") for k in changed)
    assert "lowres.prior.inject.weight" not in changed           # no NLL: nothing reaches it
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert "prior_l1" in json.dumps(log)
    with pytest.raises(InvalidInputError, match="no color prior"):
        train(options(cache, tmp_path / "none", "lowres", prior_only=True))
    with pytest.raises(InvalidInputError, match="--stage lowres"):
        train(options(cache, tmp_path / "all", "all", prior_only=True))
    with pytest.raises(InvalidInputError, match="prior-weight"):
        train(options(cache, tmp_path / "neg", "lowres", prior_weight=-1.0))


def test_aux_color_head_is_checkpointed_and_resumed(cache, tmp_path):
    run = tmp_path / "aux"
    train(options(cache, run, "lowres", steps=2, aux_color_weight=1.0))
    ck = torch.load(run / "checkpoint-lowres.pt", weights_only=False)
    assert ck["color_head"] is not None and ck["step"] == 2
    summary = train(options(cache, run, "lowres", steps=3, aux_color_weight=1.0, resume=True))
    assert summary["stages"]["lowres"]["steps"] == 3
    head = torch.load(run / "checkpoint-lowres.pt", weights_only=False)["color_head"]
    assert not torch.equal(head["weight"], ck["color_head"]["weight"])   # it trained on
    _, tensors, _ = load_weights(run / "weights.safetensors")
    assert not any("color_head" in k for k in tensors)                   # not shipped
    with pytest.raises(InvalidInputError, match="aux-color-weight"):
        train(options(cache, run, "lowres", steps=4, resume=True))
    with pytest.raises(InvalidInputError, match="aux-color-weight"):
        train(options(cache, tmp_path / "bad", "lowres", aux_color_weight=-1.0))


def test_warmup_ramps_the_lr(cache, tmp_path):
    run = tmp_path / "warm"
    train(options(cache, run, "lowres", steps=3, lr={"lowres": 1e-3}, warmup_steps=4))
    ck = torch.load(run / "checkpoint-lowres.pt", weights_only=False)
    assert ck["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.75e-3)   # step 3 of 4
    summary = train(options(cache, run, "lowres", steps=6, lr={"lowres": 1e-3},
                            warmup_steps=4, resume=True))
    assert summary["stages"]["lowres"]["lr_final"] == pytest.approx(1e-3)      # ramped up
    for bad in (-1, 1.5, True):
        with pytest.raises(InvalidInputError, match="warmup-steps"):
            train(options(cache, tmp_path / "bad", "lowres", warmup_steps=bad))


def test_figure_weight_must_be_positive(cache, tmp_path):
    with pytest.raises(InvalidInputError, match="figure-weight"):
        train(options(cache, tmp_path / "run", "lowres", figure_weight=0.0))
    with pytest.raises(InvalidInputError, match="figure-cells"):
        train(options(cache, tmp_path / "run", "lowres", figure_weight=2.0, figure_cells="red"))


def test_parse_stage_values():
    assert parse_stage_values("5", int, "x") == {"lowres": 5, "detector": 5, "polisher": 5}
    assert parse_stage_values("lowres=3,polisher=2", int, "x") == {"lowres": 3, "polisher": 2}
    total = parse_stage_values("60", float, "x", split_total=True)
    assert total == pytest.approx({"lowres": 30, "detector": 12, "polisher": 18})
    for bad in ("lowres=a", "foo=3", "x"):
        with pytest.raises(InvalidInputError):
            parse_stage_values(bad, int, "x")


def test_presets():
    assert resolve_config("tiny") == FastcolorConfig.tiny()
    small = resolve_config("small")
    assert (small.image_size, small.lowres_size) == (128, 32)
    assert len(small.conditioning.widths) == 2
    big = resolve_config("small", 256, 32)
    assert len(big.conditioning.widths) == 3
    assert resolve_config("default") == FastcolorConfig()
    with pytest.raises(InvalidInputError):
        resolve_config("no-such-preset")


def test_lowres_targets_ignore_ink():
    color = np.zeros((1, 8, 8, 3), np.uint8)
    color[..., 0] = 200                        # red
    line = np.full((1, 8, 8), 255, np.uint8)
    line[0, :, 3] = 0                          # a black line through it
    color[0, :, 3] = 0
    out = lowres_targets(color, line, 2)
    assert (out[..., 0] == 200).all() and (out[..., 1:] == 0).all()
    line[0] = 0                                # all ink: the plain average
    color[0] = 0
    assert (lowres_targets(color, line, 2) == 0).all()


def test_batches(cache):
    panels = load_split(cache, "train")
    data = TrainData(panels, 32, 8)
    rng = np.random.default_rng(0)
    b = data.batch([0, 1, 2], rng, extracted_fraction=0.5)
    assert b["outline"].shape == (3, 1, 32, 32) and b["color"].shape == (3, 3, 32, 32)
    assert b["lowres"].shape == (3, 3, 8, 8) and b["background"].shape == (3, 1, 32, 32)
    assert float(b["outline"].min()) >= 0 and float(b["outline"].max()) <= 1
    levels = (b["lowres"] + 1) * 127.5
    assert torch.allclose(levels, levels.round(), atol=1e-4)
    # extracted_fraction picks the outline source
    b0 = data.batch([0], rng, extracted_fraction=0.0, flip=False)
    b1 = data.batch([0], rng, extracted_fraction=1.0, flip=False)
    np.testing.assert_allclose(b0["outline"][0, 0].numpy(), 1 - panels.line[0] / 255, atol=1e-6)
    np.testing.assert_allclose(b1["outline"][0, 0].numpy(), 1 - panels.extracted[0] / 255,
                               atol=1e-6)
    # a resized copy for a model of another size
    assert TrainData(panels, 16, 4).color.shape == (8, 16, 16, 3)


def test_replace_by_mean_and_sample_like():
    colors = torch.tensor([[[[0.0, 1.0], [0.5, -1.0]]]]).repeat(1, 3, 1, 1)
    prob = torch.tensor([[[[1.0, 1.0], [0.0, 0.0]]]])
    out = losses.replace_by_mean(colors, prob)
    assert torch.allclose(out[0, :, 0], torch.full((3, 2), 0.5))
    assert torch.allclose(out[0, :, 1], colors[0, :, 1])
    low = losses.quantize(torch.rand(2, 3, 4, 4) * 2 - 1)
    bg = torch.zeros(2, 1, 16, 16)
    same = losses.sample_like(low, bg, torch.Generator().manual_seed(0), noise_max=0.0,
                              shift_prob=0.0, speckle_max=0.0)
    assert torch.equal(same, low)
    speckled = losses.sample_like(low, bg, torch.Generator().manual_seed(0), noise_max=0.0,
                                  shift_prob=0.0, speckle_max=1.0)
    changed = (speckled != low).any(dim=1)
    assert changed.any() and not changed.all()
    noisy = losses.sample_like(low, torch.ones(2, 1, 16, 16), torch.Generator().manual_seed(0),
                               noise_max=0.1, shift_prob=1.0)
    levels = (noisy + 1) * 127.5
    assert not torch.equal(noisy, low) and torch.allclose(levels, levels.round(), atol=1e-4)


def test_mask_regions_fill_regions_with_their_mean():
    S = 16
    line = np.full((1, S, S), 255, np.uint8)
    line[0, :, 8] = 0                                   # two regions: left and right
    colors = torch.rand(1, 3, S, S) * 2 - 1
    bg = torch.zeros(1, 1, S, S)
    rng = np.random.default_rng(0)
    for _ in range(20):                                  # until some region is chosen
        out, mask = losses.mask_regions(colors, line, bg, rng, bg_prob=0.0, region_prob_max=1.0)
        if mask.any():
            break
    m = mask[0, 0] > 0
    assert m.any()
    for region in (np.s_[:, :8], np.s_[:, 9:]):
        rm = m[region]
        if rm.all():
            vals = out[0][(slice(None),) + region]
            ref = colors[0][(slice(None),) + region].mean(dim=(1, 2))
            assert torch.allclose(vals, ref[:, None, None].expand_as(vals), atol=1e-5)
        else:
            assert not rm.any()
            assert torch.equal(out[0][(slice(None),) + region], colors[0][(slice(None),) + region])
    assert not m[:, 8].any()                            # ink is never a region
    # the background, when given, is always one flat region in the mask
    bg[0, 0, :4] = 1
    out, mask = losses.mask_regions(colors, line, bg, rng, bg_prob=1.0, region_prob_max=0.0)
    assert (mask[0, 0, :4] == 1).all() and (mask[0, 0, 4:] == 0).all()
    assert torch.allclose(out[0, :, :4], colors[0, :, :4].mean(dim=(1, 2))[:, None, None]
                          .expand(3, 4, S), atol=1e-5)


def test_detector_loss_prefers_the_true_background():
    torch.manual_seed(0)
    S = 16
    color = torch.zeros(1, 3, S, S)
    color[:, :, :, :8] = 0.8                              # background: left half
    color[:, :, :, 8:] = torch.rand(1, 3, S, 8) * 2 - 1   # busy drawing: right half
    bg = torch.zeros(1, 1, S, S)
    bg[..., :8] = 1
    lowres = losses.quantize(torch.nn.functional.avg_pool2d(color, 2))

    class Fixed(torch.nn.Module):
        def __init__(self, logits):
            super().__init__()
            self.logits = logits

        def forward(self, outline, colors):
            return self.logits

    def loss_for(logits):
        model = type("M", (), {"detector": Fixed(logits)})()
        batch = {"color": color, "lowres": lowres, "background": bg,
                 "outline": torch.zeros(1, 1, S, S)}
        return losses.detector_loss(model, batch, torch.Generator().manual_seed(0))[0]

    right = (bg * 2 - 1) * 6
    assert loss_for(right) < loss_for(-right) and loss_for(right) < loss_for(torch.zeros_like(bg))


# ---- runs ----------------------------------------------------------------------------

@pytest.mark.parametrize("stage", ["lowres", "detector", "polisher"])
def test_two_steps_of_each_stage(cache, tmp_path, stage):
    summary = train(options(cache, tmp_path, stage))
    s = summary["stages"][stage]
    assert s["steps"] == 2 and s["stopped_by"] == "max_steps"
    assert np.isfinite(s["train_loss"]) and np.isfinite(s["val_loss"])
    ck = torch.load(tmp_path / f"checkpoint-{stage}.pt", weights_only=False)
    assert ck["step"] == 2 and ck["batch_in_epoch"] == 2
    # the stage's trained tensors are in a loadable weight file
    cfg, tensors, sha = load_weights(tmp_path / "weights.safetensors")
    assert cfg == FastcolorConfig.tiny() and sha == s["weights_sha256"]
    for k, v in ck["module"].items():
        assert torch.equal(tensors[f"{stage}.{k}"], v)
    pipe = Pipeline.from_pretrained(tmp_path / "weights.safetensors", backend="reference")
    res = pipe(np.full((20, 24), 255, np.uint8), seed=0)
    assert res.image.shape == (20, 24, 3)
    log = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert log[-1]["stage"] == stage and log[-1]["partial_epoch"]


def test_stages_merge_into_one_weight_file(cache, tmp_path):
    train(options(cache, tmp_path, "lowres", steps=1))
    train(options(cache, tmp_path, "detector", steps=1))
    _, tensors, _ = load_weights(tmp_path / "weights.safetensors")
    for stage in ("lowres", "detector"):
        ck = torch.load(tmp_path / f"checkpoint-{stage}.pt", weights_only=False)
        for k, v in ck["module"].items():
            assert torch.equal(tensors[f"{stage}.{k}"], v)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert set(summary["stages"]) == {"lowres", "detector"}


def test_resume_continues_exactly(cache, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    train(options(cache, a, "polisher", steps=2))
    with pytest.raises(InvalidInputError, match="--resume"):
        train(options(cache, a, "polisher", steps=3))
    summary = train(options(cache, a, "polisher", steps=3, resume=True))
    assert summary["stages"]["polisher"]["steps"] == 3
    ck_a = torch.load(a / "checkpoint-polisher.pt", weights_only=False)
    assert ck_a["step"] == 3 and ck_a["batch_in_epoch"] == 3
    assert len(ck_a["history"]) == 2                    # one record per session
    # the same three steps without a break give the same weights
    train(options(cache, b, "polisher", steps=3))
    ck_b = torch.load(b / "checkpoint-polisher.pt", weights_only=False)
    for k, v in ck_a["module"].items():
        torch.testing.assert_close(v, ck_b["module"][k], rtol=1e-5, atol=1e-6)
    # already done: a resumed run with the same limit does nothing more
    train(options(cache, a, "polisher", steps=3, resume=True))
    assert torch.load(a / "checkpoint-polisher.pt", weights_only=False)["step"] == 3
    # --restart trains from scratch
    train(options(cache, a, "polisher", steps=1, restart=True))
    assert torch.load(a / "checkpoint-polisher.pt", weights_only=False)["step"] == 1


def test_budget_stops_and_epochs_complete(cache, tmp_path):
    opts = options(cache, tmp_path / "budget", "detector", steps=None)
    opts.max_steps = {}
    opts.budget_minutes = {"detector": 1e-9}          # spent before the first step
    s = train(opts)["stages"]["detector"]
    assert s["stopped_by"] == "budget" and s["steps"] == 0
    opts = options(cache, tmp_path / "epochs", "detector")
    opts.max_steps = {}
    opts.batch_size = {"detector": 4}
    s = train(opts)["stages"]["detector"]             # 8 panels, batch 4: 2 steps an epoch
    assert s["stopped_by"] is None and s["epochs_done"] == 1 and s["steps"] == 2


def test_run_config_is_fixed_per_run(cache, tmp_path):
    train(options(cache, tmp_path, "detector", steps=1))
    opts = options(cache, tmp_path, "lowres", steps=1)
    opts.config = "small"
    with pytest.raises(InvalidInputError, match="config"):
        train(opts)


def test_train_command(cache, tmp_path, capsys):
    rc = main(["train", "--data", str(cache), "--out", str(tmp_path), "--stage", "all",
               "--config", "tiny", "--max-steps", "1", "--batch-size", "4", "--epochs", "1",
               "--quiet", "--threads", "2", "--adversarial", "0.1"])
    out = capsys.readouterr().out
    assert rc == 0
    for stage in ("lowres", "detector", "polisher"):
        assert f"{stage}: 1 steps" in out
    assert "weights" in out and (tmp_path / "weights.safetensors").is_file()
    Pipeline.from_pretrained(tmp_path / "weights.safetensors")
    rc = main(["train", "--data", str(cache), "--out", str(tmp_path / "k"), "--stage",
               "detector", "--config", "tiny", "--batch-size", "8", "--epochs", "1",
               "--keep-epochs", "--quiet", "--threads", "2"])
    assert rc == 0 and (tmp_path / "k" / "epochs" / "detector-epoch001.safetensors").is_file()
    rc = main(["train", "--data", str(cache), "--out", str(tmp_path / "x"), "--config", "tiny",
               "--device", "cuda" if not torch.cuda.is_available() else "nope", "--quiet"])
    assert rc != 0


# ---- real low-res samples (--real-samples) ------------------------------------------------

def test_follow_sample_shifts_each_region_by_the_sample():
    S = 8
    color = torch.zeros(2, 3, S, S)
    line = np.full((2, S, S), 255, np.uint8)
    line[:, :, 4] = 0                                    # regions: left, right, the ink
    colors = color.clone()
    colors[:, 0, :, :4] = 0.5                            # the sample: left half redder
    colors[:, 2, :, 5:] = -0.25 + torch.rand(2, S, 3) * 0.01
    out = losses.follow_sample(color, colors, line, torch.tensor([True, False]), "mean")
    assert torch.allclose(out[0, 0, :, :4], torch.full((S, 4), 0.5))
    assert torch.allclose(out[0, 2, :, 5:], colors[0, 2, :, 5:].mean().expand(S, 3), atol=1e-6)
    assert torch.equal(out[1], color[1])                 # not a real row: unchanged
    assert losses.follow_sample(color, colors, line, None) is color
    # the median (the default): a region of one color with speckles of another keeps
    # its color, where the mean would be grayer
    colors[:, 1, :, :4] = 0.8
    colors[:, 1, 0, 0] = -1.0                            # one speckle
    out = losses.follow_sample(color, colors, line, torch.tensor([True, False]))
    assert torch.allclose(out[0, 1, :, :4], torch.full((S, 4), 0.8))
    mean = losses.follow_sample(color, colors, line, torch.tensor([True, False]), "mean")
    assert float(mean[0, 1, 1, 1]) < 0.8 - 0.05
    with pytest.raises(ValueError):
        losses.follow_sample(color, colors, line, torch.tensor([True, False]), "mode")


@pytest.fixture(scope="module")
def lowres_run(cache, tmp_path_factory):
    """A run folder whose low-res stage trained 2 steps (the samples' source)."""
    out = tmp_path_factory.mktemp("lowres_run")
    train(options(cache, out, "lowres"))
    return out


def _copy_run(src, dst):
    import shutil
    shutil.copytree(src, dst)
    return dst


def test_real_samples_are_made_reused_and_fed_to_the_detector(cache, lowres_run, tmp_path,
                                                            monkeypatch):
    run = _copy_run(lowres_run, tmp_path / "run")
    seen = []
    real_batch = TrainData.batch

    def spy(self, idx, rng, *args, **kwargs):
        b = real_batch(self, idx, rng, *args, **kwargs)
        if kwargs.get("flip", True):                     # training (validation: no flips)
            seen.append(b)
        return b
    monkeypatch.setattr(TrainData, "batch", spy)
    opts = options(cache, run, "detector", real_samples=6, real_fraction=1.0)
    s = train(opts)["stages"]["detector"]
    files = sorted((run / "real-samples").glob("*.npz"))
    assert [f.name.split("-")[0] for f in files] == ["train", "val"]
    assert s["real_samples"]["train_count"] == 6 and s["real_samples"]["val_count"] == 4
    assert "val_real_iou" in s and np.isfinite(s["val_real_iou"])
    # every training batch's rows were real samples, as they are in the file
    from fastcolor.train.real_samples import load_real_samples
    samples = load_real_samples(s["real_samples"]["train"])
    assert samples.lowres.shape == (6, 8, 8, 3) and samples.lowres.dtype == np.uint8
    train_batches = [b for b in seen if b["real"].all()]
    assert len(train_batches) == len(seen) == 2
    levels = {tuple(x.ravel()) for x in samples.lowres}
    for b in train_batches:
        for row in torch.round((b["sample"] + 1) * 127.5).to(torch.uint8).permute(0, 2, 3, 1):
            flat = row.numpy()
            assert tuple(flat.ravel()) in levels or tuple(flat[:, ::-1].ravel()) in levels
    ck = torch.load(run / "checkpoint-detector.pt", weights_only=False)
    assert ck["real_samples"]["train"] == str(files[0])
    # the polisher of the same run reuses the file; asking for more adds to it
    stamp = files[0].stat().st_mtime_ns
    train(options(cache, run, "polisher", real_samples=6))
    assert files[0].stat().st_mtime_ns == stamp
    train(options(cache, run, "polisher", real_samples=9, restart=True))
    more = load_real_samples(files[0])
    assert len(more) == 9
    np.testing.assert_array_equal(more.lowres[:6], samples.lowres)


def test_resume_keeps_the_checkpoints_samples(cache, lowres_run, tmp_path):
    run = _copy_run(lowres_run, tmp_path / "run")
    train(options(cache, run, "detector", steps=1, real_samples=4))
    first = torch.load(run / "checkpoint-detector.pt", weights_only=False)["real_samples"]
    # the low-res stage trains on: new weights, but the resumed detector keeps its samples
    train(options(cache, run, "lowres", steps=3, resume=True))
    train(options(cache, run, "detector", steps=2, real_samples=4, resume=True))
    ck = torch.load(run / "checkpoint-detector.pt", weights_only=False)
    assert ck["step"] == 2 and ck["real_samples"]["train"] == first["train"]
    assert len(list((run / "real-samples").glob("train-*.npz"))) == 1
    # a fresh stage takes the new low-res weights: a new file
    train(options(cache, run, "polisher", steps=1, real_samples=4))
    assert len(list((run / "real-samples").glob("train-*.npz"))) == 2


def test_real_samples_need_a_lowres_colorizer(cache, tmp_path):
    with pytest.raises(InvalidInputError, match="--real-samples"):
        train(options(cache, tmp_path, "detector", real_samples=4))
    with pytest.raises(InvalidInputError, match="--real-fraction"):
        train(options(cache, tmp_path / "b", "detector", real_samples=4, real_fraction=2.0))


def test_train_command_real_samples(cache, lowres_run, tmp_path, capsys):
    rc = main(["train", "--data", str(cache), "--out", str(tmp_path), "--stage", "detector",
               "--config", "tiny", "--max-steps", "1", "--batch-size", "2", "--quiet",
               "--threads", "1", "--real-samples", "3",
               "--real-samples-from", str(lowres_run / "weights.safetensors")])
    out = capsys.readouterr().out
    assert rc == 0 and "real samples: 3 train samples" in out and "real_iou" in out


# ---- best epoch and plateau ---------------------------------------------------------------

def test_weights_keep_the_best_epoch_and_plateaus_cut_the_lr(cache, tmp_path, monkeypatch):
    """Scripted validation losses: the weight file is written only on a better epoch, the
    learning rate halves after each epoch without one, and after ``lr_cuts`` cuts and one
    more bad epoch the stage stops; a resumed run keeps the best loss and the counters."""
    from fastcolor.train import trainer as tr
    script = iter([5.0, 4.0, 4.5, 4.6, 3.0, 3.5, 3.6, 3.7, 3.8])
    monkeypatch.setattr(tr.StageTrainer, "validate", lambda self: {"val_loss": next(script)})
    writes = []
    real_write = tr.Run.write_weights

    def counting_write(self, model, stage, steps=None):
        writes.append(steps)
        return real_write(self, model, stage, steps)

    monkeypatch.setattr(tr.Run, "write_weights", counting_write)
    opts = options(cache, tmp_path, "detector", steps=None, lr_cuts=2)
    opts.max_steps, opts.batch_size = {}, {"detector": 8}      # one step an epoch
    opts.epochs, opts.lr = {"detector": 5}, {"detector": 1e-3}
    s = train(opts)["stages"]["detector"]
    # epochs 1..5: 5.0 best, 4.0 best, 4.5 cut, 4.6 cut, 3.0 best
    assert writes == [1, 2, 5]
    assert s["best_val_loss"] == 3.0 and s["best_epoch"] == 5
    assert s["lr_final"] == pytest.approx(2.5e-4)
    log = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["improved"] for r in log] == [True, True, False, False, True]
    assert [r["lr"] for r in log] == pytest.approx([1e-3, 1e-3, 5e-4, 2.5e-4, 2.5e-4])
    # resumed with more epochs: 3.5 cut, 3.6 cut, 3.7 -> two cuts and a bad epoch: stop
    opts.epochs, opts.resume = {"detector": 20}, True
    s = train(opts)["stages"]["detector"]
    assert s["stopped_by"] == "plateau" and s["epochs_done"] == 8 and writes == [1, 2, 5]
    assert s["best_val_loss"] == 3.0 and s["lr_final"] == pytest.approx(6.25e-5)
    ck = torch.load(tmp_path / "checkpoint-detector.pt", weights_only=False)
    _, tensors, _ = load_weights(tmp_path / "weights.safetensors")
    assert any(not torch.equal(tensors[f"detector.{k}"], v) for k, v in ck["module"].items())


def test_keep_epochs_writes_every_epoch(cache, tmp_path, monkeypatch):
    """--keep-epochs: each finished epoch's whole weight file under epochs/, better or
    not; weights.safetensors still keeps the best; without the flag no epochs/ folder."""
    from fastcolor.train import trainer as tr
    script = iter([5.0, 6.0, 7.0])                       # epoch 2 is worse; 7: the plain run
    monkeypatch.setattr(tr.StageTrainer, "validate", lambda self: {"val_loss": next(script)})
    opts = options(cache, tmp_path / "kept", "detector", steps=None, keep_epochs=True)
    opts.max_steps, opts.batch_size = {}, {"detector": 8}      # one step an epoch
    opts.epochs = {"detector": 2}
    train(opts)
    run = tmp_path / "kept"
    files = sorted(p.name for p in (run / "epochs").iterdir())
    assert files == ["detector-epoch001.safetensors", "detector-epoch002.safetensors"]
    _, best, _ = load_weights(run / "weights.safetensors")
    _, one, _ = load_weights(run / "epochs" / files[0])
    _, two, _ = load_weights(run / "epochs" / files[1])
    det = [k for k in best if k.startswith("detector.")]
    assert all(torch.equal(best[k], one[k]) for k in det)                # the best: epoch 1
    assert any(not torch.equal(one[k], two[k]) for k in det)
    ck = torch.load(run / "checkpoint-detector.pt", weights_only=False)
    assert all(torch.equal(two[f"detector.{k}"], v) for k, v in ck["module"].items())
    assert all(torch.equal(best[k], two[k]) for k in best if not k.startswith("detector."))
    Pipeline.from_pretrained(run / "epochs" / files[1])
    plain = options(cache, tmp_path / "plain", "detector", steps=1)
    train(plain)
    assert (tmp_path / "plain" / "weights.safetensors").is_file()
    assert not (tmp_path / "plain" / "epochs").exists()


def test_plateau_options_are_checked(cache, tmp_path):
    for bad in (dict(patience=0), dict(lr_cuts=-1), dict(lr_factor=1.0), dict(patience=1.5)):
        with pytest.raises(InvalidInputError, match="patience"):
            train(options(cache, tmp_path, "detector", **bad))


def test_merge_stage_weights_takes_each_stage_from_its_file(cache, tmp_path):
    """scripts/merge_stage_weights.py: stages trained in two run folders into one file
    that keeps each stage's tensors and training record."""
    import importlib.util
    from pathlib import Path
    spec = importlib.util.spec_from_file_location(
        "merge_stage_weights", Path(__file__).parents[1] / "scripts" / "merge_stage_weights.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    train(options(cache, tmp_path / "a", "lowres", steps=2))
    train(options(cache, tmp_path / "b", "detector", steps=1))
    train(options(cache, tmp_path / "b", "polisher", steps=1))
    a, b = tmp_path / "a" / "weights.safetensors", tmp_path / "b" / "weights.safetensors"
    out = tmp_path / "merged.safetensors"
    assert mod.main(["--lowres", str(a), "--detector", str(b), "--polisher", str(b),
                     "--out", str(out)]) == 0
    _, merged, _ = load_weights(out)
    _, ta, _ = load_weights(a)
    _, tb, _ = load_weights(b)
    for k, v in merged.items():
        assert torch.equal(v, (ta if k.startswith("lowres.") else tb)[k]), k
    from fastcolor.weights import read_training
    steps = read_training(out)["steps"]
    assert steps == {"lowres": 2, "detector": 1, "polisher": 1}
    import dataclasses

    from fastcolor import Pipeline
    config, _, _ = load_weights(b)
    grown = dataclasses.replace(config, conditioning=dataclasses.replace(
        config.conditioning, prior_widths=(4, 8, 8), prior_dilations=(1, 2)))
    c = tmp_path / "grown.safetensors"                   # a low-res stage with a color prior
    Pipeline.random(grown, seed=0).save_pretrained(c)
    assert mod.main(["--lowres", str(c), "--detector", str(b), "--polisher", str(b),
                     "--out", str(out)]) == 0            # the others agree on their stages
    cfg, merged, _ = load_weights(out)
    assert cfg == grown and any(k.startswith("lowres.prior.") for k in merged)
    for k, v in merged.items():
        if not k.startswith("lowres."):
            assert torch.equal(v, tb[k]), k
    assert read_training(out)["steps"] == {"lowres": None, "detector": 1, "polisher": 1}
    other = dataclasses.replace(config, detector=dataclasses.replace(
        config.detector, base_channels=config.detector.base_channels + 2))
    d = tmp_path / "other_detector.safetensors"
    Pipeline.random(other, seed=0).save_pretrained(d)
    assert mod.main(["--lowres", str(a), "--detector", str(d), "--polisher", str(b),
                     "--out", str(tmp_path / "x.safetensors")]) == 2  # another detector: refused
