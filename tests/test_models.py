"""Reference modules: masks, PixelCNN causality (no blind spot), U-Nets on odd sizes."""

import pytest
import torch
import torch.nn.functional as F

from conftest import make_pixelcnn
from fastcolor.config import ConditioningConfig, FastcolorConfig, UNetConfig
from fastcolor.errors import InvalidInputError
from fastcolor.models import (BackgroundDetector, FastcolorModel, MaskedConv2d, PolishingNet,
                              UNetGenerator, make_mask)


@pytest.mark.parametrize("kind,kernel,expected", [
    ("vertical_a", (3, 3), [[1, 1, 1], [0, 0, 0], [0, 0, 0]]),
    ("vertical_b", (3, 3), [[1, 1, 1], [1, 1, 1], [0, 0, 0]]),
    ("horizontal_a", (1, 5), [[1, 1, 0, 0, 0]]),
    ("horizontal_b", (1, 5), [[1, 1, 1, 0, 0]]),
    ("none", (1, 3), [[1, 1, 1]]),
])
def test_make_mask(kind, kernel, expected):
    assert make_mask(kind, kernel).tolist() == expected


@pytest.mark.parametrize("kind,kernel", [("vertical_a", (2, 3)), ("horizontal_a", (3, 3)),
                                         ("diagonal", (3, 3)), ("horizontal_a", (1, 1)),
                                         ("vertical_a", (1, 3))])
def test_make_mask_rejects(kind, kernel):
    with pytest.raises(InvalidInputError):
        make_mask(kind, kernel)


@pytest.mark.parametrize("kind,kernel", [("vertical_a", 5), ("vertical_b", 3),
                                         ("horizontal_a", (1, 3)), ("horizontal_b", (1, 7))])
def test_masked_conv_matches_dense_conv_with_masked_weight(kind, kernel):
    torch.manual_seed(0)
    conv = MaskedConv2d(3, 4, kernel, kind).double()
    x = torch.randn(2, 3, 5, 7, dtype=torch.float64)
    ref = F.conv2d(x, conv.weight * conv.mask.double(), conv.bias, padding=conv.padding)
    torch.testing.assert_close(conv(x), ref)
    assert conv(x).shape == (2, 4, 5, 7)
    conv(x).sum().backward()
    assert (conv.weight.grad[..., conv.mask == 0] == 0).all()
    assert (conv.weight.grad[..., conv.mask == 1] != 0).any()


def expected_receptive_field(h, w, i, j, radius):
    """Positions that output (i, j) must depend on: rows above within the radius over
    columns j-R..j+R, and the current row's R columns to the left."""
    field = torch.zeros(h, w, dtype=torch.bool)
    field[max(0, i - radius):i, max(0, j - radius):j + radius + 1] = True
    field[i, max(0, j - radius):j] = True
    return field


@pytest.mark.parametrize("overrides,size", [
    (dict(layers=3, first_kernel=3, kernel=3), (7, 9)),
    (dict(layers=3, first_kernel=5, kernel=3), (9, 11)),
    (dict(layers=2, first_kernel=7, kernel=5), (8, 13)),
])
def test_pixelcnn_causality_no_blind_spot(overrides, size):
    """d out(p) / d x is zero at p and after it, nonzero at every earlier position
    inside the receptive field (so no blind spot), zero outside the field."""
    net = make_pixelcnn(seed=1, **overrides)
    h, w = size
    radius = net.receptive_field_radius
    assert radius == overrides["first_kernel"] // 2 + (overrides["layers"] - 1) * (overrides["kernel"] // 2)
    cond = torch.randn(4, net.config.cond_channels, h, w, dtype=torch.float64)
    # a batch of 4 random inputs and conditionings: the head's ReLUs can zero one
    # input's gradient at a position by chance, not all four
    for i in range(h):
        for j in range(w):
            x = torch.rand(4, 3, h, w, dtype=torch.float64, requires_grad=True)
            out = net(x * 2 - 1, cond)
            out[:, :, i, j].square().sum().backward()
            depends = x.grad.abs().sum((0, 1)) > 0
            expected = expected_receptive_field(h, w, i, j, radius)
            assert torch.equal(depends, expected), (i, j, depends.int(), expected.int())


def test_pixelcnn_rejects_bad_shapes():
    net = make_pixelcnn()
    x = torch.zeros(1, 3, 4, 4, dtype=torch.float64)
    c = torch.zeros(1, 4, 4, 4, dtype=torch.float64)
    assert net(x, c).shape == (1, 30, 4, 4)
    with pytest.raises(InvalidInputError):
        net(x[:, :2], c)
    with pytest.raises(InvalidInputError):
        net(x, c[:, :, :3])
    with pytest.raises(InvalidInputError):
        net(x, torch.zeros(1, 5, 4, 4, dtype=torch.float64))


@pytest.mark.parametrize("size", [(100, 77), (64, 64), (1, 1), (3, 130), (33, 17)])
def test_unet_returns_input_size(size):
    torch.manual_seed(0)
    net = UNetGenerator(4, 2, UNetConfig(base_channels=4, max_channels=16, depth=4)).eval()
    x = torch.randn(2, 4, *size)
    y = net(x)
    assert y.shape == (2, 2, *size)
    assert torch.isfinite(y).all()


def test_unet_batch_equals_single_runs():
    """InstanceNorm: the result does not depend on the rest of the batch."""
    torch.manual_seed(0)
    det = BackgroundDetector(UNetConfig(base_channels=4, max_channels=16, depth=4)).eval()
    outline = torch.rand(3, 1, 37, 50)
    colors = torch.rand(3, 3, 37, 50) * 2 - 1
    batched = det.probability(outline, colors)
    singles = torch.cat([det.probability(outline[k:k + 1], colors[k:k + 1]) for k in range(3)])
    torch.testing.assert_close(batched, singles, atol=1e-5, rtol=1e-5)
    assert batched.min() >= 0 and batched.max() <= 1


def test_stages_shapes_and_ranges():
    torch.manual_seed(0)
    cfg = UNetConfig(base_channels=4, max_channels=8, depth=3)
    pol = PolishingNet(cfg).eval()
    outline = torch.rand(2, 1, 30, 21)
    colors = torch.rand(2, 3, 30, 21) * 2 - 1
    mask = (torch.rand(2, 1, 30, 21) > 0.5).float()
    y = pol(outline, colors, mask)
    assert y.shape == (2, 3, 30, 21) and y.abs().max() <= 1
    with pytest.raises(InvalidInputError):
        pol(outline, colors[:, :2], mask)
    with pytest.raises(InvalidInputError):
        pol(outline, colors, mask[:1])
    with pytest.raises(InvalidInputError):
        BackgroundDetector(cfg)(outline, colors[..., :20])


def test_lowres_colorizer_shapes_and_loss(tiny_config):
    torch.manual_seed(0)
    model = FastcolorModel(tiny_config)
    s, S = tiny_config.lowres_size, tiny_config.image_size
    outline = torch.rand(2, 1, S, S)
    target = torch.round(torch.rand(2, 3, s, s) * 255) / 127.5 - 1
    params = model.lowres(outline, target)
    assert params.shape == (2, 10 * tiny_config.pixelcnn.mixtures, s, s)
    loss = model.lowres.loss(outline, target)
    assert loss.dim() == 0 and torch.isfinite(loss) and loss > 0
    loss.backward()
    assert all(p.grad is not None for p in model.lowres.parameters())
    with pytest.raises(InvalidInputError):
        model.lowres.condition(torch.rand(2, 1, S + 1, S))
    with pytest.raises(InvalidInputError):
        model.lowres.condition(torch.zeros(2, 1, S, S, dtype=torch.long))


def test_default_config_sizes():
    cfg = FastcolorConfig()
    assert (cfg.image_size, cfg.lowres_size) == (256, 32)
    model = FastcolorModel(cfg)
    cond = model.lowres.condition(torch.zeros(1, 1, 256, 256))
    assert cond.shape == (1, cfg.pixelcnn.cond_channels, 32, 32)


@pytest.mark.parametrize("kwargs", [dict(image_size=250), dict(lowres_size=16),
                                    dict(image_size=256, lowres_size=64)])
def test_config_rejects_inconsistent_sizes(kwargs):
    with pytest.raises(InvalidInputError):
        FastcolorConfig(**kwargs)


def test_config_json_round_trip(tiny_config):
    assert FastcolorConfig.from_json(tiny_config.to_json()) == tiny_config
    with pytest.raises(InvalidInputError):
        FastcolorConfig.from_json("{not json")
    with pytest.raises(InvalidInputError):
        FastcolorConfig.from_dict({"pixelcnn": {"colour": 3}})


def _with_context(cfg, dilations):
    import dataclasses
    return dataclasses.replace(cfg, conditioning=dataclasses.replace(
        cfg.conditioning, context_dilations=tuple(dilations)))


def test_context_blocks_config_round_trip_and_old_json(tiny_config):
    grown = _with_context(tiny_config, (2, 4))
    assert FastcolorConfig.from_json(grown.to_json()) == grown
    assert "context_dilations" not in tiny_config.to_json()   # as written before the blocks
    for bad in ((0,), (2, -1), (True,), (1.5,)):
        with pytest.raises(InvalidInputError, match="context_dilations"):
            _with_context(tiny_config, bad)


def test_context_blocks_widen_the_view_and_start_as_identity(tiny_config):
    torch.manual_seed(0)
    plain = FastcolorModel(tiny_config)
    grown = FastcolorModel(_with_context(tiny_config, (1, 2)))
    own = set(plain.state_dict())
    new = set(grown.state_dict()) - own
    assert own <= set(grown.state_dict()) and new and all(".context." in k for k in new)
    state = grown.state_dict()
    state.update(plain.state_dict())
    grown.load_state_dict(state)
    x = torch.rand(2, 1, tiny_config.image_size, tiny_config.image_size)
    assert not torch.equal(grown.lowres.condition(x), plain.lowres.condition(x))
    grown.lowres.conditioning.zero_init_context()
    torch.testing.assert_close(grown.lowres.condition(x), plain.lowres.condition(x),
                               rtol=0, atol=0)
    # a dilated block keeps the low-res shape and reaches cells `dilation` apart
    block = grown.lowres.conditioning.context[1]
    assert block.conv1.dilation == (2, 2) and block.conv1.padding == (2, 2)


def _with_prior(cfg, widths=(4, 8, 8), dilations=(1, 2)):
    import dataclasses
    return dataclasses.replace(cfg, conditioning=dataclasses.replace(
        cfg.conditioning, prior_widths=tuple(widths), prior_dilations=tuple(dilations)))


def test_color_prior_config_round_trip_and_old_json(tiny_config):
    grown = _with_prior(tiny_config)
    assert FastcolorConfig.from_json(grown.to_json()) == grown
    assert "prior_widths" not in tiny_config.to_json()       # as written before the prior
    assert "prior_dilations" not in tiny_config.to_json()
    for bad in ((8, 8), (8, 8, 8, 8), (8, 0, 8), (8, True, 8)):
        with pytest.raises(InvalidInputError, match="prior_widths"):
            _with_prior(tiny_config, bad)
    with pytest.raises(InvalidInputError, match="prior_dilations"):
        _with_prior(tiny_config, dilations=(0,))
    with pytest.raises(InvalidInputError, match="even lowres_size"):
        _with_prior(FastcolorConfig.tiny(36, 9))
    with pytest.raises(InvalidInputError, match="even lowres_size"):
        tiny = FastcolorConfig.tiny()
        FastcolorConfig(image_size=8, lowres_size=8, pixelcnn=tiny.pixelcnn,
                        conditioning=ConditioningConfig(widths=(), out_channels=8,
                                                        prior_widths=(4, 8, 8)))


@pytest.mark.parametrize("sizes", [(32, 8), (16, 8), (64, 8), (24, 6)])
def test_color_prior_shapes_and_starts_as_nothing(sizes):
    """The prior's colors and features are at the low-res size whatever the stride, and
    its zero ``inject`` leaves the conditioning exactly what it was."""
    base = FastcolorConfig.tiny(*sizes)
    torch.manual_seed(0)
    plain = FastcolorModel(base)
    grown = FastcolorModel(_with_prior(base))
    own = set(plain.state_dict())
    new = set(grown.state_dict()) - own
    assert own <= set(grown.state_dict()) and all(k.startswith("lowres.prior.") for k in new)
    state = grown.state_dict()
    state.update(plain.state_dict())
    grown.load_state_dict(state)
    S, s = sizes
    x = torch.rand(3, 1, S, S)
    features, colors = grown.lowres.prior(x)
    assert features.shape == (3, 4 * 2, s, s) and colors.shape == (3, 3, s, s)
    torch.testing.assert_close(grown.lowres.condition(x), plain.lowres.condition(x),
                               rtol=0, atol=0)
    cond, prior_colors = grown.lowres.condition_and_prior(x)
    torch.testing.assert_close(prior_colors, colors, rtol=0, atol=0)
    with torch.no_grad():
        grown.lowres.prior.inject.weight.normal_()
    assert not torch.allclose(grown.lowres.condition(x), plain.lowres.condition(x))
    # the prior reads the whole panel: a stroke in one corner changes the far corner
    y = x.clone()
    y[:, :, :S // 4, :S // 4] = 1
    far = grown.lowres.prior(y)[1] - colors
    assert far[:, :, -1, -1].abs().max() > 0


def test_add_context_blocks_script(tmp_path):
    import importlib.util
    from pathlib import Path

    import numpy as np

    from fastcolor.pipeline import Pipeline
    from fastcolor.weights import load_weights, read_training
    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("add_context_blocks",
                                                  root / "scripts/add_context_blocks.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    tiny = Pipeline(FastcolorModel(FastcolorConfig.tiny()), backend="reference")
    src = tmp_path / "tiny.safetensors"
    tiny.save_pretrained(src)
    out = tmp_path / "grown.safetensors"
    assert script.main(["--weights", str(src), "--dilations", "2", "4", "--out", str(out)]) == 0
    cfg, tensors, _ = load_weights(out)
    assert cfg.conditioning.context_dilations == (2, 4)
    assert read_training(out)["context_dilations"] == [2, 4]
    grown = Pipeline.from_pretrained(out, backend="reference")
    page = np.full((40, 40), 255, np.uint8)
    page[10:30, 10] = page[10:30, 30] = page[10, 10:30] = page[30, 10:31] = 0
    a, b = tiny(page, seed=3), grown(page, seed=3)
    assert (a.image == b.image).all()                 # the identity until trained
    assert script.main(["--weights", str(out), "--dilations", "2", "--out",
                        str(tmp_path / "again.safetensors")]) == 2    # already has them
    prior = tmp_path / "prior.safetensors"
    assert script.main(["--weights", str(src), "--prior-widths", "4", "8", "8",
                        "--prior-dilations", "1", "2", "--out", str(prior)]) == 0
    cfg, tensors, _ = load_weights(prior)
    assert cfg.conditioning.prior_widths == (4, 8, 8)
    assert cfg.conditioning.prior_dilations == (1, 2) and not cfg.conditioning.context_dilations
    assert read_training(prior)["prior_widths"] == [4, 8, 8]
    assert (Pipeline.from_pretrained(prior, backend="reference")(
        page, seed=3, figure_colors="sample").image == a.image).all()  # the prior starts as nothing
    assert script.main(["--weights", str(prior), "--prior-widths", "4", "8", "8", "--out",
                        str(tmp_path / "again.safetensors")]) == 2    # already has one
    assert script.main(["--weights", str(src), "--out",
                        str(tmp_path / "none.safetensors")]) == 2     # nothing to add
