"""A drawing becomes an MNIST-like digit: cropped, fitted to 20x20, centred by mass."""
from __future__ import annotations

import numpy as np
import pytest

from models.corrupt import brush_mask
from models.drawing import centre_of_mass, to_mnist

CANVAS = 280
CENTRE = 14.0  # where MNIST digits have their centre of mass (see the test below)


def stroke(points, radius=12.0, size=CANVAS) -> np.ndarray:
    """A float canvas with a brush stroke through (row, col) points, as a user would draw it."""
    return brush_mask(points, radius=radius, image_shape=(size, size)).numpy().astype(np.float32)


def ink_box(img: np.ndarray) -> tuple[int, int]:
    ink = img > 0.05
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


DRAWINGS = {
    "corner loop": [(10, 10), (10, 60), (60, 60), (60, 10), (10, 10)],
    "off-centre seven": [(150, 160), (150, 260), (270, 190)],
    "tall thin one": [(20, 40), (260, 46)],
    "wide dash": [(200, 20), (206, 270)],
    "dot": [(140, 140)],
    "L at the edge": [(0, 0), (279, 0), (279, 279)],
}


@pytest.mark.parametrize("name", DRAWINGS)
def test_drawing_anywhere_is_centred_and_fitted(name):
    img = to_mnist(stroke(DRAWINGS[name]))
    assert img is not None
    assert img.shape == (28, 28) and img.dtype == np.float32
    assert np.isfinite(img).all() and img.min() >= 0.0 and img.max() <= 1.0
    assert img.max() == pytest.approx(1.0)
    r, c = centre_of_mass(img)
    # Within a pixel, or 1.5 for a lopsided drawing whose box is kept on the field.
    assert abs(r - CENTRE) <= 1.5 and abs(c - CENTRE) <= 1.5, (r, c)
    h, w = ink_box(img)
    assert max(h, w) <= 22, (h, w)  # 20 plus a soft edge
    assert max(h, w) >= 19  # the longer side fills the box


def test_aspect_ratio_is_kept():
    tall = to_mnist(stroke([(20, 140), (260, 140)], radius=20))
    h, w = ink_box(tall)
    assert h >= 19 and w <= 6  # a thin upright bar, not stretched into a square blob


def test_edges_are_soft():
    img = to_mnist(stroke(DRAWINGS["off-centre seven"], radius=10))
    grey = (img > 0.05) & (img < 0.95)
    assert grey.sum() >= 5


def test_uint8_and_float_canvases_agree():
    canvas = stroke(DRAWINGS["tall thin one"])
    a = to_mnist(canvas)
    b = to_mnist((canvas * 255).astype(np.uint8))
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_position_on_the_canvas_does_not_matter():
    a = to_mnist(stroke([(20, 20), (120, 60)]))
    b = to_mnist(stroke([(150, 160), (250, 200)]))
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_a_bigger_stroke_changes_the_image():
    base = [(40, 140), (240, 140)]
    a = to_mnist(stroke(base))
    b = to_mnist(stroke([*base, (240, 220)]))
    assert np.abs(a - b).max() > 0.5


@pytest.mark.parametrize(
    "canvas",
    [np.zeros((280, 280), np.float32), np.zeros((280, 280), np.uint8), np.full((50, 80), 0.01), np.full((28, 28), np.nan)],
    ids=["float", "uint8", "faint", "nan"],
)
def test_an_empty_canvas_gives_none(canvas):
    assert to_mnist(canvas) is None


def test_any_canvas_size_works():
    small = np.zeros((10, 14), np.float32)
    small[2:8, 6] = 1.0
    img = to_mnist(small)
    assert img is not None and img.shape == (28, 28)
    assert ink_box(img)[0] >= 19


def test_a_bad_canvas_is_refused():
    with pytest.raises(ValueError, match="2-D"):
        to_mnist(np.zeros((3, 28, 28)))


def test_centre_of_mass():
    img = np.zeros((5, 7))
    img[1, 2] = 1.0
    img[3, 2] = 1.0
    assert centre_of_mass(img) == (2.0, 2.0)
    with pytest.raises(ValueError, match="without ink"):
        centre_of_mass(np.zeros((4, 4)))


# ---------------------------------------------------------------- MNIST's own placement


@pytest.fixture(scope="module")
def bundled_digits():
    from models.data import load_bundled

    data = load_bundled("mnist")
    x = data.test_images.astype(np.float32) / 255.0
    return x, data.test_labels


def _upscaled(images: np.ndarray, mode: str) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(images)[:, None]
    extra = {} if mode == "nearest" else {"align_corners": False}
    return F.interpolate(t, scale_factor=10, mode=mode, **extra)[:, 0].numpy()


def test_mnist_test_digits_have_their_centre_of_mass_where_to_mnist_puts_it(bundled_digits):
    from models.drawing import CENTRE

    x, _ = bundled_digits
    com = np.array([centre_of_mass(img) for img in x[:2000]])
    assert np.allclose(com.mean(axis=0), CENTRE, atol=0.05), com.mean(axis=0)


@pytest.fixture(scope="module")
def vae_codes(bundled_digits):
    import torch

    from models.checkpoint import bundled_checkpoints, load_checkpoint

    x, labels = bundled_digits
    vae = next(load_checkpoint(p) for p in bundled_checkpoints("mnist") if p.stem == "vae")

    def encode(images: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return vae.model.encode(torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).flatten(1))[0].numpy()

    return encode, encode(x)


CHOSEN = np.arange(0, 10_000, 5)  # 2,000 of the bundled test digits (500 leave the vote's share too noisy)


def _knn_votes(points: np.ndarray, codes: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """5-nearest-neighbour votes among the codes of the bundled digits not chosen."""
    others = np.setdiff1d(np.arange(len(codes)), CHOSEN)
    d = ((points[:, None, :] - codes[others][None, :, :]) ** 2).sum(-1)
    nearest = labels[others][np.argsort(d, axis=1)[:, :5]]
    return np.array([np.bincount(row, minlength=10).argmax() for row in nearest])


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_mnist_digits_drawn_ten_times_larger_come_back_as_they_were(bundled_digits, vae_codes, mode):
    """The round trip of issue #19: MNIST digits upscaled by 10 and pushed back through
    to_mnist are the same images again, and the 2-D VAE places them among the same
    neighbours."""
    import torch
    import torch.nn.functional as F

    x, labels = bundled_digits
    encode, codes = vae_codes
    back, blurred = [], []
    for start in range(0, len(CHOSEN), 250):  # 250 at a time: 2,000 images of 280 x 280 are 600 MB
        big = _upscaled(x[CHOSEN[start : start + 250]], mode)
        back += [to_mnist(img) for img in big]
        # The blur alone: the large image averaged back to 28 x 28 in exactly the right place.
        blurred.append(F.interpolate(torch.from_numpy(big)[:, None], size=(28, 28), mode="area")[:, 0].numpy())
    back = np.stack(back)
    assert float(((back - x[CHOSEN]) ** 2).mean()) < 0.005

    before = _knn_votes(codes[CHOSEN], codes, labels)
    after = _knn_votes(encode(back), codes, labels)
    if mode == "nearest":
        assert (after == before).mean() >= 0.99
    else:
        # Bilinear upscaling blurs, and the blur alone moves some 2-D codes across a class
        # boundary; to_mnist's placement must add nothing to that.
        floor = (_knn_votes(encode(np.concatenate(blurred)), codes, labels) == before).mean()
        assert (after == before).mean() >= floor - 0.01, ((after == before).mean(), floor)


def test_soft_strokes_are_sharpened_to_mnists_ink_and_mnists_own_are_left_alone(bundled_digits):
    import torch
    import torch.nn.functional as F

    from models.drawing import INK_TARGET, match_ink, stroke_statistics

    x, _ = bundled_digits
    # MNIST's own digits: at most a few percent are touched at all.
    touched = [not np.array_equal(match_ink(img), img) for img in x[:500]]
    assert np.mean(touched) <= 0.05
    # The same digits as a soft scan gives them (blurred, then stretched to full ink):
    # wide grey strokes, sharpened back to at least the target's mean ink.
    soft = F.avg_pool2d(torch.from_numpy(x[:200])[:, None], 5, stride=1, padding=2)[:, 0].numpy()
    soft = soft / soft.reshape(200, -1).max(axis=1)[:, None, None]
    before = np.array([stroke_statistics(img)[1] for img in soft])
    after = np.array([stroke_statistics(match_ink(img))[1] for img in soft])
    assert before.mean() < INK_TARGET <= after.min()
    # Thinner strokes too: the share of inked pixels moves back towards the digits' own.
    share = [stroke_statistics(img)[0] for img in x[:200]]
    share_soft = [stroke_statistics(img)[0] for img in soft]
    share_sharp = [stroke_statistics(match_ink(img))[0] for img in soft]
    assert np.mean(share) < np.mean(share_sharp) < np.mean(share_soft)
