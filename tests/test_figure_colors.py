"""Step 3b: the figure's colors from the color prior (``figure_colors``, ``prior_saturation``).

The samples keep picking the background (the detector reads them, the background color is
their mean under the mask); with "prior" the rest of the polisher's input is the color
prior's colors, saturation scaled, the same for every sample; hint cells keep the hints.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fastcolor import FastcolorConfig, Pipeline
from fastcolor.errors import InvalidInputError
from fastcolor.pipeline import MODEL_BATCH, Hints


def _prior_config() -> FastcolorConfig:
    cfg = FastcolorConfig.tiny()
    return dataclasses.replace(cfg, conditioning=dataclasses.replace(
        cfg.conditioning, prior_widths=(4, 8, 8), prior_dilations=(1, 2)))


def _detector_says(pipe: Pipeline, bias: float) -> Pipeline:
    """The detector's logit ``bias`` everywhere (+20: all background, -20: none)."""
    last = pipe.model.detector.unet.up[-1][-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.fill_(bias)
    return pipe


def _square_page(size: int) -> np.ndarray:
    """A page of the model's own size (one tile, no letterbox): a house-like drawing."""
    page = np.full((size, size), 255, np.uint8)
    cv2.rectangle(page, (6, 14), (25, 28), 0, 1)
    cv2.line(page, (6, 14), (16, 4), 0, 1)
    cv2.line(page, (16, 4), (25, 14), 0, 1)
    cv2.circle(page, (26, 6), 3, 0, 1)
    return page


class Spy:
    """Records what step 2 returned and what the polisher got (reference backend)."""

    def __init__(self, pipe: Pipeline):
        self.pipe, self.prior, self.polished_inputs = pipe, [], []
        backend = pipe.backend
        condition, polish = backend.condition_and_prior, backend.polish

        def spy_condition(lowres, outline):
            cond, colors = condition(lowres, outline)
            self.prior.append(colors)
            return cond, colors

        def spy_polish(polisher, outline, colors, mask):
            self.polished_inputs.append(colors.clone())
            return polish(polisher, outline, colors, mask)
        backend.condition_and_prior, backend.polish = spy_condition, spy_polish


@pytest.fixture
def no_background() -> Pipeline:
    return _detector_says(Pipeline.random(_prior_config(), seed=0, backend="reference"), -20.0)


@pytest.mark.parametrize("gain", [0.0, 1.0, 2.5])
def test_polisher_gets_the_saturated_prior_colors(no_background, gain):
    spy = Spy(no_background)
    page = _square_page(no_background.config.image_size)
    no_background(page, seed=0, figure_colors="prior", prior_saturation=gain)
    (prior,), (got,) = spy.prior, spy.polished_inputs
    gray = prior.mean(dim=1, keepdim=True)
    want = (gray + gain * (prior - gray)).clamp(-1, 1)
    S = no_background.config.image_size
    want = F.interpolate(want, size=(S, S), mode="bilinear", align_corners=False)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-6)
    if gain == 0:                                   # gray: the three channels equal
        torch.testing.assert_close(got[:, 0], got[:, 2], rtol=0, atol=1e-6)


def test_prior_colors_are_the_same_for_every_sample(no_background):
    spy = Spy(no_background)
    page = _square_page(no_background.config.image_size)
    prior = no_background(page, seed=1, samples=3, figure_colors="prior")
    sample = no_background(page, seed=1, samples=3, figure_colors="sample")
    with_prior, with_samples = spy.polished_inputs
    assert all(torch.equal(with_prior[0], x) for x in with_prior[1:])
    assert not torch.equal(with_samples[0], with_samples[1])      # each sample its own
    for a, b in zip(prior, sample):                 # the samples themselves are unchanged
        assert (a.lowres == b.lowres).all()
    assert not (prior[0].lowres == prior[1].lowres).all()


def test_samples_still_pick_the_background():
    """All background: the color is the sample's mean, whatever the figure colors."""
    pipe = _detector_says(Pipeline.random(_prior_config(), seed=0, backend="reference"), 20.0)
    page = _square_page(pipe.config.image_size)
    for seed in (0, 1):
        a = pipe(page, seed=seed, figure_colors="prior")
        b = pipe(page, seed=seed, figure_colors="sample")
        assert a.background_color == b.background_color is not None
        assert (a.image == b.image).all()


def test_hint_cells_keep_the_hint_colors(no_background):
    pipe, seen = no_background, {}
    detect = pipe._detect

    def spy_detect(outline, lowres, figure, *args):
        seen["figure"], seen["lowres"] = figure, lowres
        return detect(outline, lowres, figure, *args)
    pipe._detect = spy_detect
    s = pipe.config.lowres_size
    colors = np.random.default_rng(0).integers(0, 256, (s, s, 3), dtype=np.uint8)
    mask = np.zeros((s, s), bool)
    mask[1:4, 2:6] = True
    pipe(_square_page(pipe.config.image_size), seed=0, figure_colors="prior",
         hints=Hints(colors, mask))
    figure = seen["figure"][0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(figure[mask], colors[mask] / 127.5 - 1, atol=1e-6)
    assert not np.allclose(figure[~mask], seen["lowres"][0].permute(1, 2, 0).numpy()[~mask])


def test_auto_takes_the_prior_when_the_weights_have_one(no_background):
    page = _square_page(no_background.config.image_size)
    auto = no_background(page, seed=2)
    assert (auto.image == no_background(page, seed=2, figure_colors="prior").image).all()
    assert not (auto.image == no_background(page, seed=2, figure_colors="sample").image).all()
    assert no_background.resolve_figure_colors("auto", 1.0) == "prior"
    plain = Pipeline.random(FastcolorConfig.tiny(), seed=0, backend="reference")
    assert plain.resolve_figure_colors("auto", 1.0) == "sample"
    with pytest.raises(InvalidInputError, match="no color prior"):
        plain(page, figure_colors="prior")


def test_many_tiles_batch_the_prior_with_the_conditioning():
    """A strip of more than MODEL_BATCH tiles: step 2's two outputs are concatenated
    chunk by chunk, and each tile's prior colors are its own."""
    pipe = _detector_says(Pipeline.random(_prior_config(), seed=0, backend="reference"), -20.0)
    spy = Spy(pipe)
    S = pipe.config.image_size
    strip = np.concatenate([_square_page(S)] * (2 * MODEL_BATCH + 4))   # a tall strip
    strip[::7, ::5] = 0                              # tiles differ
    result = pipe(strip, seed=0, panels=False, flats=False, figure_colors="prior")
    tiles = len(result.extras["tiles"])
    assert tiles > MODEL_BATCH and len(spy.prior) == -(-tiles // MODEL_BATCH)   # chunks
    prior = torch.cat(spy.prior)
    with torch.no_grad():
        outline = pipe._condition_input(pipe._prepare(strip, "auto", hints=None, flats=False,
                                                      gap=None, min_area=None, panels=False), 1)
        want = pipe.model.lowres.prior(outline)[1]
    torch.testing.assert_close(prior, want, rtol=0, atol=1e-6)


def test_figure_2_shows_the_prior_colors(no_background):
    from types import SimpleNamespace

    from fastcolor.figure import COLUMNS, PRIOR_COLUMNS, figure_rows, render_grid
    S, s = no_background.config.image_size, no_background.config.lowres_size
    page = _square_page(S)
    item = SimpleNamespace(outline=page, color=np.full((S, S, 3), 200, np.uint8))
    (row,) = figure_rows(no_background, [item])
    result = no_background(page, seed=0, extract_outline=False)
    assert len(row) == len(PRIOR_COLUMNS) and row[2].shape == (s, s, 3)
    assert (row[2] == result.extras["figure_lowres"]).all()
    assert render_grid([row], cell=32, pad=2, labels=PRIOR_COLUMNS).shape[1] == 7 * 34 + 2
    plain = Pipeline.random(FastcolorConfig.tiny(), seed=0, backend="reference")
    (row,) = figure_rows(plain, [item])
    assert len(row) == len(COLUMNS)
    assert "figure_lowres" not in plain(page, seed=0).extras
