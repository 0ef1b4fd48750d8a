"""Real paper through the whole pipeline: scans (toned, yellowed, noisy, JPEG), light
pencil and white-on-black art come out on clean paper with one clean background color,
made in the test from synthetic drawings."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fastcolor import FastcolorConfig, Pipeline


def drawing(h=120, w=160, value=0, thickness=2):
    img = np.full((h, w), 255, np.uint8)
    cv2.rectangle(img, (4, 4), (w - 5, h - 5), value, thickness, cv2.LINE_AA)
    cv2.circle(img, (w // 3, h // 2), h // 4, value, thickness, cv2.LINE_AA)
    cv2.line(img, (w // 2, h - 20), (w - 20, 20), value, thickness, cv2.LINE_AA)
    return img


def scan(img, paper=222, noise=7.0, jpeg=55):
    rng = np.random.default_rng(1)
    rgb = img.astype(np.float32)[..., None] / 255 * paper * np.float32([1.0, 0.96, 0.86])
    rgb = np.clip(rgb + rng.normal(0, noise, rgb.shape), 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", rgb, [cv2.IMWRITE_JPEG_QUALITY, jpeg])
    return cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)


def clean_paper(img):
    return cv2.erode((img == 255).astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)


def test_scan_comes_out_on_one_clean_background_color(all_background):
    img = drawing()
    r = all_background(scan(img), seed=0)
    assert r.extras["outline"]["stretched"] and r.extras["outline"]["source"] == "line_art"
    assert r.background_color is not None
    paper = clean_paper(img)
    same = (r.image[paper] == r.background_color).all(axis=1)
    assert same.mean() > 0.995, f"only {same.mean():.3f} of the paper is the background color"


def test_light_pencil_gives_single_strokes(all_background):
    img = drawing(value=170, thickness=3)
    img = np.where(img == 255, 248, img).astype(np.uint8)
    r = all_background(img, seed=0)
    assert r.extras["outline"]["source"] == "line_art"
    column = r.outline[:, img.shape[1] // 3] < 128       # crosses the circle twice
    runs = np.count_nonzero(np.diff(column.astype(np.int8)) == 1)
    assert runs == 4                                      # border, circle, circle, border
    paper = clean_paper(np.where(img >= 248, 255, 0).astype(np.uint8))
    assert ((r.image[paper] == r.background_color).all(axis=1)).mean() > 0.995


def test_white_on_black_is_inverted_and_said(all_background):
    img = drawing()
    r = all_background(255 - img, seed=0)
    assert r.extras["outline"]["inverted"]
    np.testing.assert_array_equal(r.outline, img)
    paper = clean_paper(img)
    assert ((r.image[paper] == r.background_color).all(axis=1)).mean() > 0.995
    assert not all_background(img, seed=0).extras["outline"]["inverted"]
