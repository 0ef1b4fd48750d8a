"""The training losses of the three stages (the paper's, plus what makes them learnable).

**Low-res colorizer**: DLMM negative log-likelihood in bits/dim of the 8-bit low-res
target (``LowResColorizer.loss``), teacher-forced as PixelCNNs are. With
``--figure-weight W`` (default 1: the plain NLL) each cell's NLL is weighted ``W`` where
the cell is mostly figure and 1 where it is mostly panel background (the composition's
mask), normalized by the weights: the background's color is drawn at random and cannot
be learned from the line art, yet its many flat cells dominate the plain NLL; the
weight spends the model on the drawings' colors. With ``--figure-cells colored`` only
the figure's cells whose true color is not white paper (a channel under 242) get
``W``: two thirds of the figure's area is white (balloons, eyes, paper inside the
drawings), and weighting it teaches white figures. ``nll_bpd`` stays the plain NLL.
With ``--aux-color-weight A`` a 1x1 convolution reads a color per cell out of the
PixelCNN's conditioning features and its L1 distance to the target on the figure's
cells is added, times ``A``: in the NLL the choice of a region's color is made at its
first cells and the rest follow their neighbours, so the line art's say in the colors
is a sliver of the loss (on its own training panels the colorizer's mean sample is no
closer to the truth than one constant gray); the auxiliary loss asks the conditioning
net for the colors directly. The head is trained with the stage (kept in the
checkpoint), not shipped.
For a model with a color prior (``models.color_prior``: a larger outline encoder whose
features reach the PixelCNN's conditioning) its own colors' L1 to the target is added,
times ``--prior-weight`` (``color_prior_l1``); ``--prior-only`` trains the prior on that
loss alone, without running the PixelCNN (its pretraining). The prior is part of the
stage and shipped with it.

**Background detector**: the paper trains it with the L1 distance between the ground
truth and the low-res colors whose detected background is replaced by its mean. With
``p`` the background probability and ``x`` the upsampled low-res colors, the soft
version is ``y = p * mean_p(x) + (1 - p) * x`` with ``mean_p(x) = sum(p x) / sum(p)``,
and the loss ``|y - ground truth|`` (mean over pixels and channels). Alone this is weak:
where the low-res colors of a region are already uniform, replacing them by their mean
changes nothing, so the gradient only says what *not* to mark (regions whose colors
differ from the mean) and "no background at all" is a minimum. Since the composition
knows the true panel background, the detector also gets a binary cross-entropy to that
mask (weight ``bce_weight``, 1 by default): the L1 term keeps the paper's objective,
the BCE makes it learn the region. The low-res colors ``x`` are the ground-truth low-res
colors (teacher forcing) made to look like samples (``sample_like``): per-cell noise,
random-color speckles, and for half of the panels a background color shifted away from
the truth (a sample picks its own background color), so the detector leans on the
outline as much as on the colors.

**Polishing network**: L1 to the ground truth (pixels weighted by ``1 - ink`` of the
input outline: the pipeline lays the ink over the colors, so what lies under it does not
count), on inputs whose randomly chosen regions carry their mean color and are marked
in the mask (``mask_regions``): the regions are the connected paper areas of the exact
line art (what a flat color fills in a comic), each taken with a per-panel probability
drawn from U(0, 0.5), and the panel background with probability 0.8 (at inference the
mask is the detected background, colored with its mean). The low-res colors are again
the ground truth's, noised with speckles (teacher forcing), unless ``--real-samples``
gives real ones (below; made once per low-res checkpoint, not one generation per step). An optional
PatchGAN discriminator (``--adversarial W``, least-squares GAN) adds the pix2pix
adversarial term.

**Real samples** (``fastcolor train --real-samples N``, ``real_samples``): rows of a
batch flagged ``real`` take the low-res colorizer's own sample of their panel as ``x``
(detector) / as the low-res colors (polisher), as is, instead of the noised ground truth.
A sample picks its own colors, so its ground truth is not the panel's: both stages
compare with the ground truth *following the sample* (``follow_sample``): each region of
the exact line art (connected paper area, as in ``mask_regions``; the ink is one more
region) shifted by the *median* difference between the sample's upsampled colors and the
ground truth over it. The polisher then learns to clean a sample (flat, sharp regions,
the drawing's own shading kept) without pulling it towards the colors it "should" have
had (which averages samples into a pale wash), and the detector's L1 term compares the
mean-replaced background with the sample's background color. The median, not the mean:
a sample's region is its color with speckles of others, and their mean is a grayer
color than any in the region (the polisher trained on means washed every region pale:
colorfulness 24 against the truth's 50 on validation panels).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import nn

from ..models.lowres import check_outline
from ..ops.dlmm import dlmm_nll_bits   # the fused Triton kernel on CUDA


def upsample(lowres: torch.Tensor, size: int) -> torch.Tensor:
    """As the pipeline does: bilinear, ``align_corners=False``."""
    return F.interpolate(lowres, size=(size, size), mode="bilinear", align_corners=False)


def quantize(x: torch.Tensor) -> torch.Tensor:
    """Onto the 8-bit levels in [-1, 1]."""
    return torch.round((x.clamp(-1, 1) + 1) * 127.5) / 127.5 - 1


def lowres_background(background: torch.Tensor, size: int) -> torch.Tensor:
    """Low-res cells that are mostly background, ``(B, 1, s, s)`` in {0, 1}."""
    return (F.adaptive_avg_pool2d(background, size) > 0.5).float()


def sample_like(lowres: torch.Tensor, background: torch.Tensor, gen: torch.Generator,
                noise_max: float = 0.2, shift_prob: float = 0.5, shift_std: float = 0.3,
                speckle_max: float = 0.1) -> torch.Tensor:
    """Ground-truth low-res colors made to look like a sample: per panel, per-cell
    Gaussian noise of std U(0, ``noise_max``); with probability ``shift_prob`` the
    background cells shifted by one random offset (std ``shift_std``); a share
    U(0, ``speckle_max``) of the cells replaced by random colors (a sampler's outliers);
    quantized."""
    b = lowres.shape[0]
    dev, dt = lowres.device, lowres.dtype

    def rand(*shape):
        return torch.rand(*shape, generator=gen).to(dev, dt)

    def randn(*shape):
        return torch.randn(*shape, generator=gen).to(dev, dt)

    sigma = rand(b, 1, 1, 1) * noise_max
    x = lowres + sigma * randn(*lowres.shape)
    if shift_prob > 0:
        bg = lowres_background(background, lowres.shape[-1])
        shift = randn(b, 3, 1, 1) * shift_std * (rand(b, 1, 1, 1) < shift_prob).to(dt)
        x = x + bg * shift
    if speckle_max > 0:
        share = rand(b, 1, 1, 1) * speckle_max
        hit = (rand(b, 1, *lowres.shape[2:]) < share).to(dt)
        x = x * (1 - hit) + (rand(*lowres.shape) * 2 - 1) * hit
    return quantize(x)


WHITE_PAPER = 242 / 127.5 - 1        # a low-res cell is white paper with every channel >= 242


PRIOR_BACKGROUND_WEIGHT = 0.25   # the color prior's L1 on the panel background's cells


def color_prior_l1(colors: torch.Tensor, target: torch.Tensor,
                   figure: torch.Tensor) -> torch.Tensor:
    """The color prior's loss: the L1 distance of its ``colors`` ``(B, 3, s, s)`` to the
    low-res ``target`` (both in [-1, 1]), per cell averaged over channels, weighted
    ``PRIOR_BACKGROUND_WEIGHT + figure`` (``figure`` ``(B, s, s)`` in [0, 1], the share of
    the cell that is figure): the composition draws a panel's background color at random,
    so the line art cannot tell it; its cells only teach the prior that paper is pale."""
    weight = PRIOR_BACKGROUND_WEIGHT + figure
    return ((colors - target).abs().mean(dim=1) * weight).sum() / weight.sum()


def lowres_loss(model, batch: dict, figure_weight: float = 1.0,
                figure_cells: str = "figure", color_head=None,
                color_weight: float = 0.0, prior_weight: float = 1.0,
                prior_only: bool = False) -> tuple[torch.Tensor, dict]:
    """The low-res stage's loss (module doc): the NLL in bits/dim, its cells weighted
    ``figure_weight`` on the figure (``figure_cells="colored"``: on the figure's cells
    that are not white paper) and 1 elsewhere; with ``color_head`` (a module mapping the
    PixelCNN's conditioning ``(B, C, s, s)`` to colors ``(B, 3, s, s)``) plus
    ``color_weight`` times the L1 distance of its colors to the target on the figure's
    cells (the auxiliary color loss); for a model with a color prior plus ``prior_weight``
    times its loss (``color_prior_l1``, reported as ``prior_l1``), and with ``prior_only``
    that loss alone (the PixelCNN is not run: the prior's pretraining)."""
    if figure_cells not in ("figure", "colored"):
        raise ValueError(f"figure_cells must be 'figure' or 'colored', got {figure_cells!r}")
    lowres = model.lowres
    target = batch["lowres"]
    if prior_only and lowres.prior is None:
        raise ValueError("prior_only needs a model with a color prior")
    if figure_weight == 1.0 and color_head is None and lowres.prior is None:
        loss = lowres.loss(batch["outline"], target)
        return loss, {"nll_bpd": float(loss.detach())}
    figure = 1 - lowres_background(batch["background"], target.shape[-1])[:, 0]
    if prior_only:
        prior = color_prior_l1(lowres.prior(batch["outline"])[1], target, figure)
        return prior, {"prior_l1": float(prior.detach())}
    check_outline(batch["outline"], lowres.config.image_size)
    cond, prior_colors = lowres.condition_and_prior(batch["outline"])
    nll = dlmm_nll_bits(lowres.pixelcnn(target, cond), target)
    weighted = figure
    if figure_cells == "colored":
        weighted = figure * (target.min(dim=1).values < WHITE_PAPER).to(figure.dtype)
    weight = 1 + (figure_weight - 1) * weighted
    loss = (nll * weight).sum() / weight.sum()
    figs = {"nll_bpd": float(nll.mean().detach())}
    if color_head is not None:
        err = (color_head(cond) - target).abs().mean(dim=1)
        color = (err * figure).sum() / figure.sum().clamp(min=1)
        loss = loss + color_weight * color
        figs["color_l1"] = float(color.detach())
    if prior_colors is not None:
        prior = color_prior_l1(prior_colors, target, figure)
        loss = loss + prior_weight * prior
        figs["prior_l1"] = float(prior.detach())
    return loss, figs


def replace_by_mean(colors: torch.Tensor, prob: torch.Tensor) -> torch.Tensor:
    """``p * mean_p(colors) + (1 - p) * colors`` (see module doc)."""
    w = prob.sum(dim=(2, 3), keepdim=True).clamp(min=1e-6)
    mean = (colors * prob).sum(dim=(2, 3), keepdim=True) / w
    return prob * mean + (1 - prob) * colors


def _with_real(batch: dict, low: torch.Tensor) -> torch.Tensor:
    """``low`` with the rows flagged ``real`` replaced by their real sample."""
    real = batch.get("real")
    if real is None or not bool(real.any()):
        return low
    return torch.where(real[:, None, None, None], batch["sample"], low)


def follow_sample(color: torch.Tensor, colors: torch.Tensor, line_u8: np.ndarray,
                  real: torch.Tensor | None, statistic: str = "median") -> torch.Tensor:
    """The ground truth ``color`` ``(B, 3, S, S)`` of the ``real`` rows shifted, region by
    region of the exact line art ``line_u8``, by the median (``statistic="mean"``: the
    mean) of ``colors - color`` over the region (see module doc); other rows unchanged."""
    if real is None or not bool(real.any()):
        return color
    if statistic not in ("median", "mean"):
        raise ValueError(f"statistic must be 'median' or 'mean', got {statistic!r}")
    out = color.detach().cpu().numpy().copy()
    diff = (colors.detach().cpu() - color.detach().cpu()).numpy()
    for i in np.nonzero(real.cpu().numpy())[0]:
        n, labels = cv2.connectedComponents((line_u8[i] >= 128).astype(np.uint8),
                                            connectivity=4)
        flat = labels.ravel()
        counts = np.maximum(np.bincount(flat, minlength=n), 1)
        for c in range(3):
            if statistic == "mean":
                shift = np.bincount(flat, weights=diff[i, c].ravel(), minlength=n) / counts
            else:
                shift = np.asarray(ndimage.median(diff[i, c], labels, np.arange(n)))
            out[i, c] += shift[labels]
    return torch.from_numpy(np.clip(out, -1, 1)).to(color.device, color.dtype)


def detector_loss(model, batch: dict, gen: torch.Generator,
                  bce_weight: float = 1.0) -> tuple[torch.Tensor, dict]:
    S = batch["color"].shape[-1]
    x = upsample(_with_real(batch, sample_like(batch["lowres"], batch["background"], gen)), S)
    logits = model.detector(batch["outline"], x)
    prob = torch.sigmoid(logits)
    target = follow_sample(batch["color"], x, batch.get("line_u8"), batch.get("real"))
    l1 = (replace_by_mean(x, prob) - target).abs().mean()
    bce = F.binary_cross_entropy_with_logits(logits, batch["background"])
    with torch.no_grad():
        pred = prob > 0.5
        truth = batch["background"] > 0.5
        iou = (pred & truth).sum() / (pred | truth).sum().clamp(min=1)
    return l1 + bce_weight * bce, {"l1": float(l1.detach()), "bce": float(bce.detach()),
                                   "iou": float(iou)}


def mask_regions(colors: torch.Tensor, line_u8: np.ndarray, background: torch.Tensor,
                 rng: np.random.Generator, bg_prob: float = 0.8,
                 region_prob_max: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """The polisher's training input (see module doc): ``colors`` ``(B, 3, S, S)`` with
    chosen regions replaced by their mean, and the mask ``(B, 1, S, S)``."""
    out = colors.detach().cpu().numpy().copy()
    b, _, S, _ = out.shape
    mask = np.zeros((b, S, S), bool)
    bg = background.detach().cpu().numpy()[:, 0] > 0.5
    for i in range(b):
        n, labels = cv2.connectedComponents((line_u8[i] >= 128).astype(np.uint8),
                                            connectivity=4)
        q = rng.uniform(0, region_prob_max)
        chosen = rng.random(n) < q
        chosen[0] = False                       # label 0: the ink
        flat = labels.ravel()
        pick = chosen[flat] & ~bg[i].ravel()
        if pick.any():
            counts = np.bincount(flat, minlength=n).astype(np.float64)
            for c in range(3):
                ch = out[i, c].ravel()
                means = np.bincount(flat, weights=ch, minlength=n) / np.maximum(counts, 1)
                ch[pick] = means[flat[pick]]
            mask[i].ravel()[pick] = True
        if bg[i].any() and rng.random() < bg_prob:
            m = bg[i]
            out[i][:, m] = out[i][:, m].mean(axis=1, keepdims=True)
            mask[i] |= m
    dev, dt = colors.device, colors.dtype
    return (torch.from_numpy(out).to(dev, dt),
            torch.from_numpy(mask.astype(np.float32))[:, None].to(dev, dt))


class PatchDiscriminator(nn.Module):
    """pix2pix PatchGAN (70x70 receptive field at 3 layers), conditioned on the outline:
    ``(B, 1 + 3, S, S)`` -> patch scores ``(B, 1, S/8 - 2, S/8 - 2)``."""

    def __init__(self, base: int = 32, layers: int = 3):
        super().__init__()
        mods: list[nn.Module] = [nn.Conv2d(4, base, 4, 2, 1), nn.LeakyReLU(0.2)]
        ch = base
        for i in range(1, layers):
            nxt = min(base * 2 ** i, base * 8)
            mods += [nn.Conv2d(ch, nxt, 4, 2, 1, bias=False), nn.InstanceNorm2d(nxt, affine=True),
                     nn.LeakyReLU(0.2)]
            ch = nxt
        nxt = min(ch * 2, base * 8)
        mods += [nn.Conv2d(ch, nxt, 4, 1, 1, bias=False), nn.InstanceNorm2d(nxt, affine=True),
                 nn.LeakyReLU(0.2), nn.Conv2d(nxt, 1, 4, 1, 1)]
        self.net = nn.Sequential(*mods)

    def forward(self, outline: torch.Tensor, color: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([outline, color], dim=1))


def polisher_inputs(batch: dict, rng: np.random.Generator, gen: torch.Generator,
                    noise_max: float = 0.1, speckle_max: float = 0.05
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(colors, mask, target): the target is the ground truth following the real samples
    (``follow_sample``)."""
    S = batch["color"].shape[-1]
    low = _with_real(batch, sample_like(batch["lowres"], batch["background"], gen,
                                        noise_max=noise_max, shift_prob=0.0,
                                        speckle_max=speckle_max))
    up = upsample(low, S)
    target = follow_sample(batch["color"], up, batch["line_u8"], batch.get("real"))
    colors, mask = mask_regions(up, batch["line_u8"], batch["background"], rng)
    return colors, mask, target


def weighted_l1(pred: torch.Tensor, target: torch.Tensor, outline: torch.Tensor) -> torch.Tensor:
    paper = 1 - outline
    return ((pred - target).abs() * paper).sum() / (3 * paper.sum()).clamp(min=1)


def polisher_loss(model, batch: dict, rng: np.random.Generator, gen: torch.Generator,
                  disc: PatchDiscriminator | None = None,
                  adversarial: float = 0.0) -> tuple[torch.Tensor, dict, torch.Tensor]:
    """Returns (loss, figures, the polished colors) (the colors feed the discriminator)."""
    colors, mask, target = polisher_inputs(batch, rng, gen)
    out = model.polisher(batch["outline"], colors, mask)
    l1 = weighted_l1(out, target, batch["outline"])
    figures = {"l1": float(l1.detach())}
    loss = l1
    if disc is not None and adversarial > 0:
        score = disc(batch["outline"], out)
        g_adv = ((score - 1) ** 2).mean()
        loss = loss + adversarial * g_adv
        figures["g_adv"] = float(g_adv.detach())
    return loss, figures, out


def discriminator_loss(disc: PatchDiscriminator, batch: dict, fake: torch.Tensor) -> torch.Tensor:
    real = disc(batch["outline"], batch["color"])
    fake = disc(batch["outline"], fake.detach())
    return 0.5 * (((real - 1) ** 2).mean() + (fake ** 2).mean())
