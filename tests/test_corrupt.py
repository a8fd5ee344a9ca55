"""Corruptions: what a user sees when they move the noise slider or paint a mask."""
import numpy as np
import pytest
import torch

from models import corrupt as C

SEEDED = [name for name, spec in C.CORRUPTIONS.items() if spec.seeded]


def digits(batch: int = 4, seed: int = 0) -> torch.Tensor:
    """(B, 28, 28) images in [0, 1] with ink in the middle, like MNIST."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(batch, 28, 28)
    x[:, 6:22, 8:20] = torch.rand(batch, 16, 12, generator=g)
    return x


def layouts(x: torch.Tensor) -> dict[str, torch.Tensor]:
    return {"flat": x.reshape(len(x), 784), "hw": x, "chw": x.reshape(len(x), 1, 28, 28)}


# --------------------------------------------------------------------------- contract


@pytest.mark.parametrize("kind", list(C.CORRUPTIONS))
@pytest.mark.parametrize("layout", ["flat", "hw", "chw"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_output_keeps_shape_dtype_range_and_leaves_the_input_alone(kind, layout, dtype):
    x = layouts(digits().to(dtype))[layout]
    before = x.clone()
    spec = C.CORRUPTIONS[kind]
    out = C.corrupt(x, kind, spec.level_max if spec.level_max <= 4 else 4, seed=1)
    assert out.shape == x.shape and out.dtype == dtype
    assert out.min() >= 0 and out.max() <= 1
    assert torch.equal(x, before)
    # A colour-only damage ("grey") has nothing to take from a grey image.
    assert torch.equal(out, x) if spec.colour_only else not torch.equal(out, x)


@pytest.mark.parametrize("kind", list(C.CORRUPTIONS))
def test_every_layout_gets_the_same_corruption(kind):
    x = digits()
    level = C.CORRUPTIONS[kind].default_level
    outs = [C.corrupt(v, kind, level, seed=3).reshape(-1, 28, 28) for v in layouts(x).values()]
    assert torch.equal(outs[0], outs[1]) and torch.equal(outs[1], outs[2])


@pytest.mark.parametrize("kind", SEEDED)
def test_same_seed_same_image_different_seed_different_image(kind):
    x = digits()
    level = C.CORRUPTIONS[kind].default_level
    assert torch.equal(C.corrupt(x, kind, level, seed=7), C.corrupt(x, kind, level, seed=7))
    assert not torch.equal(C.corrupt(x, kind, level, seed=7), C.corrupt(x, kind, level, seed=8))
    # Without a seed every call is fresh noise.
    assert not torch.equal(C.corrupt(x, kind, level), C.corrupt(x, kind, level))


@pytest.mark.parametrize("kind", SEEDED)
def test_a_generator_continues_its_stream_and_the_global_rng_is_untouched(kind):
    x = digits()
    level = C.CORRUPTIONS[kind].default_level
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    first = C.corrupt(x, kind, level, generator=g1)
    assert torch.equal(first, C.corrupt(x, kind, level, generator=g2))
    assert not torch.equal(first, C.corrupt(x, kind, level, generator=g1))  # next batch, new noise

    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    C.corrupt(x, kind, level, seed=1)
    C.corrupt(x, kind, level)
    assert torch.equal(torch.rand(3), expected)


def test_seed_and_generator_together_are_refused():
    with pytest.raises(ValueError, match="seed or generator"):
        C.gaussian_noise(digits(), 0.1, seed=1, generator=torch.Generator())


@pytest.mark.parametrize(
    "shape, message",
    [((2, 2, 28, 28), "cannot interpret"), ((784,), "x\\[None\\]"), ((2, 1000), "shape=\\(H, W\\)")],
)
def test_shapes_that_are_not_image_batches_are_refused_with_a_hint(shape, message):
    with pytest.raises(ValueError, match=message):
        C.gaussian_blur(torch.rand(shape), 1.0)


def test_flat_non_square_images_work_with_an_explicit_shape():
    x = torch.zeros(2, 20 * 30)
    x[:, 300] = 1.0
    out = C.gaussian_blur(x, 1.0, shape=(20, 30))
    assert out.shape == x.shape and out.sum() == pytest.approx(2.0, rel=1e-4)
    with pytest.raises(ValueError, match="600"):
        C.gaussian_blur(x, 1.0, shape=(28, 28))


def test_integer_images_are_refused():
    with pytest.raises(TypeError, match="floating-point"):
        C.gaussian_noise(torch.zeros(2, 784, dtype=torch.uint8), 0.1, seed=0)


# --------------------------------------------------------------------------- pixel noise


def test_gaussian_noise_on_mid_grey_has_the_requested_spread():
    x = torch.full((200, 784), 0.5)
    out = C.gaussian_noise(x, 0.05, seed=0)
    assert float((out - x).std()) == pytest.approx(0.05, rel=0.02)
    assert float(out.mean()) == pytest.approx(0.5, abs=0.001)
    assert torch.equal(C.gaussian_noise(x, 0.0, seed=0), x)


def test_strong_gaussian_noise_is_clipped_to_valid_pixels():
    out = C.gaussian_noise(torch.full((10, 784), 0.5), 2.0, seed=0)
    assert out.min() == 0 and out.max() == 1


def test_salt_and_pepper_hits_the_requested_fraction_half_white_half_black():
    x = torch.full((50, 28, 28), 0.5)
    out = C.salt_and_pepper(x, 0.3, seed=0)
    hit = out != 0.5
    assert (hit.sum(dim=(1, 2)) == round(0.3 * 784)).all()
    assert set(out[hit].unique().tolist()) == {0.0, 1.0}
    assert float((out[hit] == 1).float().mean()) == pytest.approx(0.5, abs=0.03)


def test_masking_noise_blacks_out_the_requested_fraction_and_keeps_the_rest():
    x = torch.full((50, 784), 0.7)
    out = C.masking_noise(x, 0.25, seed=0)
    assert ((out == 0).sum(dim=1) == 196).all()
    assert torch.equal(out[out != 0], x[out != 0])
    assert torch.equal(C.masking_noise(x, 0.0, seed=0), x)
    assert (C.masking_noise(x, 1.0, seed=0) == 0).all()


@pytest.mark.parametrize("fraction", [-0.1, 1.5, float("nan")])
def test_fractions_outside_zero_to_one_are_refused(fraction):
    with pytest.raises(ValueError, match="fraction"):
        C.masking_noise(digits(), fraction, seed=0)


# --------------------------------------------------------------------------- masks


def test_random_pixel_mask_hides_exactly_the_fraction_per_image():
    one = C.random_pixel_mask((28, 28), 0.5, seed=0)
    assert one.shape == (28, 28) and one.dtype == torch.bool and int(one.sum()) == 392
    batch = C.random_pixel_mask(digits(3).reshape(3, 784), 0.1, seed=0)
    assert batch.shape == (3, 784) and (batch.sum(dim=1) == 78).all()
    assert not torch.equal(batch[0], batch[1])


def test_rect_mask_covers_exactly_the_rectangle():
    m = C.rect_mask((28, 28), top=3, left=5, height=4, width=6)
    assert int(m.sum()) == 24 and m[3:7, 5:11].all()
    batch = C.rect_mask(digits(2), top=0, left=0, height=2, width=2)
    assert batch.shape == (2, 28, 28) and (batch.sum(dim=(1, 2)) == 4).all()
    # Dragged past the corner: only the part inside the image.
    assert int(C.rect_mask((28, 28), top=-2, left=26, height=4, width=10).sum()) == 2 * 2
    with pytest.raises(ValueError, match="height and width"):
        C.rect_mask((28, 28), top=0, left=0, height=-1, width=3)


@pytest.mark.parametrize(
    "name, inside",
    [
        ("top_half", (slice(0, 14), slice(None))),
        ("bottom_half", (slice(14, 28), slice(None))),
        ("left_half", (slice(None), slice(0, 14))),
        ("right_half", (slice(None), slice(14, 28))),
        ("center_square", (slice(8, 20), slice(8, 20))),
    ],
)
def test_presets_cover_the_named_part_of_the_image(name, inside):
    m = C.preset_mask(name)
    expected = torch.zeros(28, 28, dtype=torch.bool)
    expected[inside] = True
    assert torch.equal(m, expected)


def test_random_pixels_preset_and_unknown_preset():
    assert int(C.preset_mask("random_pixels", seed=1).sum()) == 392
    assert torch.equal(C.preset_mask("random_pixels", seed=1), C.preset_mask("random_pixels", seed=1))
    with pytest.raises(ValueError, match="top_half.*random_pixels"):
        C.preset_mask("everything")


def test_center_square_mask_is_centred():
    m = C.center_square_mask(4)
    assert int(m.sum()) == 16 and m[12:16, 12:16].all()


def test_a_fast_brush_stroke_leaves_no_gap():
    m = C.brush_mask([(2.0, 2.0), (25.0, 25.0)], radius=1.0)
    assert m.shape == (28, 28) and m.dtype == torch.bool
    assert all(m[i, i] for i in range(2, 26))
    assert all(m[i, i + 1] for i in range(2, 25))  # a stroke, not a staircase of corners
    rows, cols = torch.nonzero(m, as_tuple=True)
    assert ((rows - cols).abs() <= 1).all()  # nothing painted away from the line
    assert not m[0, 0] and not m[27, 27]


def test_a_single_point_paints_a_disc():
    m = C.brush_mask([(10.0, 10.0)], radius=2.0)
    assert int(m.sum()) == 13 and m[10, 10] and m[8, 10] and not m[8, 8]


def test_brush_adds_to_a_mask_without_changing_it():
    start = np.zeros((28, 28), dtype=bool)
    start[0, 0] = True
    out = C.brush_mask(np.array([[14.0, 14.0]]), radius=1.0, mask=start)
    assert isinstance(out, np.ndarray) and out[0, 0] and out[14, 14]
    assert start.sum() == 1
    t = torch.zeros(28, 28, dtype=torch.bool)
    assert torch.equal(C.brush_mask([], radius=3.0, mask=t), t)
    with pytest.raises(ValueError, match="image shape"):
        C.brush_mask([(1.0, 1.0)], radius=1.0, mask=np.zeros((10, 10), dtype=bool))


def test_apply_mask_fills_only_the_masked_pixels():
    x = digits(3)
    m = C.preset_mask("left_half")
    out = C.apply_mask(x, m, fill=0.25)
    assert (out[:, :, :14] == 0.25).all()
    assert torch.equal(out[:, :, 14:], x[:, :, 14:])  # bit-identical
    mean = x.mean(dim=0)
    out = C.apply_mask(x.reshape(3, 784), m, fill=mean)
    assert torch.equal(out.reshape(3, 28, 28)[:, :, :14], mean[:, :14].expand(3, 28, 14))


def test_apply_mask_takes_a_mask_per_image():
    x = digits(2)
    m = C.random_pixel_mask((2, 28, 28), 0.5, seed=0)
    out = C.apply_mask(x.reshape(2, 1, 28, 28), m).reshape(2, 28, 28)
    assert torch.equal(out[m], torch.zeros(int(m.sum())))
    assert torch.equal(out[~m], x[~m])
    with pytest.raises(ValueError, match="does not fit"):
        C.apply_mask(x, torch.zeros(3, 28, 28, dtype=torch.bool))


# --------------------------------------------------------------------------- resolution


def test_blur_keeps_the_brightness_of_a_blob_and_lowers_its_peak():
    x = torch.zeros(1, 28, 28)
    x[0, 12:16, 12:16] = 1.0
    out = C.gaussian_blur(x, 1.5)
    assert float(out.sum()) == pytest.approx(float(x.sum()), rel=0.01)
    assert out.max() < 0.8
    assert out[0, 12, 9] > 0  # ink spreads


def test_blur_does_not_darken_the_border_and_sigma_zero_is_a_copy():
    white = torch.ones(2, 784)
    assert torch.allclose(C.gaussian_blur(white, 3.0), white)
    corner = torch.zeros(1, 28, 28)
    corner[0, 0, 0:3] = 1.0  # ink touching the edge
    assert float(C.gaussian_blur(corner, 2.0).sum()) == pytest.approx(3.0, rel=1e-5)
    x = digits()
    same = C.gaussian_blur(x, 0.0)
    assert torch.equal(same, x) and same is not x


def test_downsampling_a_blocky_image_changes_nothing():
    g = torch.Generator().manual_seed(0)
    blocks = torch.rand(3, 14, 14, generator=g).repeat_interleave(2, dim=1).repeat_interleave(2, dim=2)
    assert torch.equal(C.downsample_upsample(blocks, 2), blocks)


@pytest.mark.parametrize("factor", [2, 4])
def test_a_fine_checkerboard_becomes_flat_grey(factor):
    board = ((torch.arange(28)[:, None] + torch.arange(28)[None, :]) % 2).float()[None]
    assert torch.allclose(C.downsample_upsample(board, factor), torch.full_like(board, 0.5))
    assert torch.allclose(C.downsample_upsample(board, factor, mode="bilinear"), torch.full_like(board, 0.5))


def test_downsampling_by_four_leaves_seven_by_seven_blocks():
    out = C.downsample_upsample(digits(1), 4)[0]
    blocks = out.reshape(7, 4, 7, 4)
    assert (blocks == blocks[:, :1, :, :1]).all()


def test_bad_downsampling_requests_are_refused():
    with pytest.raises(ValueError, match="whole number"):
        C.downsample_upsample(digits(), 2.5)
    with pytest.raises(ValueError, match="larger than"):
        C.downsample_upsample(digits(), 29)
    with pytest.raises(ValueError, match="nearest"):
        C.downsample_upsample(digits(), 2, mode="cubic")


# --------------------------------------------------------------------------- registry


def test_registry_names_levels_and_descriptions():
    assert list(C.CORRUPTIONS) == ["gaussian", "salt_and_pepper", "masking", "blur", "downsample", "grey", "old_photo"]
    for name, spec in C.CORRUPTIONS.items():
        assert spec.name == name and spec.title and spec.description.endswith(".")
        assert spec.level_min <= spec.default_level <= spec.level_max
        C.corrupt(digits(1), name, spec.default_level, seed=0)


def test_unknown_kind_lists_the_valid_names():
    with pytest.raises(ValueError) as info:
        C.corrupt(digits(), "speckle", 0.1)
    for name in C.CORRUPTIONS:
        assert name in str(info.value)


@pytest.mark.parametrize("kind, level", [("gaussian", 1.5), ("masking", -0.1), ("blur", 10.0), ("downsample", 8)])
def test_out_of_range_levels_name_the_range(kind, level):
    spec = C.CORRUPTIONS[kind]
    with pytest.raises(ValueError, match=f"{spec.level_name} for '{kind}' must be between"):
        C.corrupt(digits(), kind, level)


def test_numpy_in_numpy_out_even_for_read_only_arrays():
    x = digits(2).numpy().astype(np.float64)[:, ::-1]  # a flipped view, as np.flipud gives
    x.setflags(write=False)
    out = C.corrupt(x, "masking", 0.5, seed=0)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64 and out.shape == x.shape
    assert np.array_equal(out, C.corrupt(torch.from_numpy(x.copy()), "masking", 0.5, seed=0).numpy())
