"""The colour damages ("grey", "old_photo"), every other damage on colour images, and
the colorizing DAE that undoes "grey"."""
import numpy as np
import pytest
import torch

from colour_shapes import coloured_shapes
from models import corrupt as C
from models import data, metrics
from models.nets import NetConfig, build_model
from models.train import TrainConfig, Trainer


def colour_batch(n=4, side=32, seed=0) -> torch.Tensor:
    """(n, 3, side, side) floats: coloured shapes, channels-first."""
    images, _ = coloured_shapes(n, side=side, seed=seed)
    return data.as_float_images(images).reshape(n, 3, side, side)


def test_grey_is_the_bt601_luminance_in_three_equal_channels():
    pure = torch.zeros(3, 3, 2, 2)
    for c in range(3):
        pure[c, c] = 1.0  # a red, a green and a blue image
    out = C.corrupt(pure, "grey", 1.0)
    assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 1], out[:, 2])
    assert out[:, 0, 0, 0].tolist() == pytest.approx([0.299, 0.587, 0.114])
    x = colour_batch()
    grey = C.corrupt(x, "grey", 1.0)
    expected = 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    assert torch.allclose(grey[:, 1], expected, atol=1e-6)


def test_grey_amount_blends_and_grey_images_are_left_alone():
    x = colour_batch()
    full = C.corrupt(x, "grey", 1.0)
    assert torch.equal(C.corrupt(x, "grey", 0.0), x)
    assert torch.allclose(C.corrupt(x, "grey", 0.5), (x + full) / 2, atol=1e-6)
    digits = torch.rand(2, 28, 28, generator=torch.Generator().manual_seed(0))
    assert torch.equal(C.corrupt(digits, "grey", 1.0), digits)
    assert C.CORRUPTIONS["grey"].colour_only
    assert "grey" not in C.corruptions_for(1) and "old_photo" in C.corruptions_for(1)
    assert C.corruptions_for(3) == tuple(C.CORRUPTIONS)


def test_every_layout_of_a_colour_batch_gets_the_same_damage():
    x = colour_batch()
    rows = x.reshape(4, 3072)
    last = x.permute(0, 2, 3, 1).numpy()  # channels-last, as the GUI holds pictures
    for kind in ("grey", "old_photo", "masking", "blur", "downsample"):
        level = C.CORRUPTIONS[kind].default_level
        planes = C.corrupt(x, kind, level, seed=3)
        assert torch.equal(C.corrupt(rows, kind, level, seed=3), planes.reshape(4, 3072)), kind
        back = C.corrupt(last, kind, level, seed=3)
        assert isinstance(back, np.ndarray) and back.shape == last.shape
        assert np.array_equal(back, planes.permute(0, 2, 3, 1).numpy()), kind


def test_flat_colour_rows_of_other_sizes_need_their_shape():
    x = torch.rand(2, 3 * 20 * 30, generator=torch.Generator().manual_seed(0))
    out = C.corrupt(x, "grey", 1.0, shape=(20, 30))
    planes = out.reshape(2, 3, 20, 30)
    assert torch.equal(planes[:, 0], planes[:, 2])
    with pytest.raises(ValueError, match=r"1200 values in colour\) but each input row has 1800"):
        C.corrupt(x, "grey", 1.0, shape=(20, 20))


def test_old_photo_is_seeded_grey_and_grows_with_its_level():
    x = colour_batch(6, seed=1)
    a = C.corrupt(x, "old_photo", 0.6, seed=5)
    assert torch.equal(a, C.corrupt(x, "old_photo", 0.6, seed=5))
    assert not torch.equal(a, C.corrupt(x, "old_photo", 0.6, seed=6))
    assert torch.equal(a[:, 0], a[:, 1]) and torch.equal(a[:, 1], a[:, 2])
    grey = C.corrupt(x, "grey", 1.0)
    assert torch.equal(C.corrupt(x, "old_photo", 0.0, seed=5), grey)
    away = [float(((C.corrupt(x, "old_photo", lv, seed=5) - grey) ** 2).mean()) for lv in (0.2, 0.5, 1.0)]
    assert away[0] < away[1] < away[2]
    # Scratches: pale lines on every image at full strength, where the grey image is dark.
    full = C.corrupt(x, "old_photo", 1.0, seed=5)
    assert ((full[:, 0] > 0.6) & (grey[:, 0] < 0.2)).flatten(1).sum(1).min() >= 10


def test_old_photo_damages_a_grey_digit_too():
    digits = torch.zeros(3, 28, 28)
    out = C.corrupt(digits, "old_photo", 0.5, seed=0)
    assert out.shape == digits.shape and out.max() > 0.5


def test_pixel_noise_hits_a_colour_pixels_channels_together():
    x = colour_batch()
    masked = C.corrupt(x, "masking", 0.25, seed=0)
    black = (masked == 0).all(dim=1) & (x > 0).all(dim=1)
    assert black.flatten(1).sum(1).tolist() == [256] * 4  # a quarter of 32 x 32, exactly
    assert torch.equal((masked == 0).any(dim=1) & (x > 0).all(dim=1), black)
    salted = C.corrupt(x, "salt_and_pepper", 0.3, seed=0)
    changed = (salted != x).any(dim=1)
    assert ((salted == 0).all(dim=1) | (salted == 1).all(dim=1))[changed].all()
    noisy = C.corrupt(x, "gaussian", 0.2, seed=0)
    # Gaussian noise is drawn for each channel: a grey pixel comes out coloured.
    assert not torch.equal(noisy[:, 0] - x[:, 0], noisy[:, 1] - x[:, 1])


def test_blur_and_low_resolution_act_on_each_channel_as_on_a_grey_image():
    x = colour_batch()
    blurred = C.gaussian_blur(x, 1.5)
    for c in range(3):
        assert torch.allclose(blurred[:, c], C.gaussian_blur(x[:, c], 1.5), atol=1e-6)
    low = C.downsample_upsample(x, 4)
    assert torch.allclose(low[:, 2], C.downsample_upsample(x[:, 2], 4), atol=1e-6)


def test_a_colour_mask_fill_is_a_colour_image():
    x = colour_batch(3)
    mean = x.mean(dim=0)  # (3, 32, 32): with a batch of three, as many values as 3 grey fills
    mask = C.center_square_mask(8, (32, 32))
    out = C.apply_mask(x, mask, fill=mean.reshape(-1))
    assert torch.equal(out[:, :, mask], mean[:, mask].expand(3, -1, -1))
    assert torch.equal(out[:, :, ~mask], x[:, :, ~mask])


def test_a_colorizing_dae_puts_the_colour_back(one_thread):
    images, _ = coloured_shapes(260, side=32, seed=0)
    train, test = images[:200], data.as_float_images(images[200:])
    config = NetConfig(kind="dae", arch="conv", image_shape=(32, 32), channels=3, latent=32, hidden=(8, 16, 32),
                       noise="grey", noise_level=1.0, loss="mse")
    model = build_model(config, data_mean=data.as_float_images(train).mean(dim=0), seed=0)
    trainer = Trainer(model, config=TrainConfig(epochs=10, batch_size=20, lr=3e-3, seed=0, device="cpu"),
                      train_x=train, test_x=test)
    result = trainer.fit()
    grey = C.corrupt(test, "grey", 1.0)
    grey_mse = float(((grey - test) ** 2).mean())
    restored_mse = metrics.reconstruction_mse(model, test, x_in=grey)
    assert restored_mse < 0.7 * grey_mse, (restored_mse, grey_mse)
    # The trainer's own figure for a DAE is this one.
    assert result.final_test["denoise_mse"] == pytest.approx(restored_mse, rel=1e-4)
    restored = metrics.reconstruct(model, grey).reshape(-1, 3, 32, 32)
    # Colour, not grey: the red circles come back redder than green.
    labels = coloured_shapes(260, side=32, seed=0)[1][200:]
    circles = restored[torch.from_numpy(labels == 0)]
    assert float((circles[:, 0] - circles[:, 1]).mean()) > 0.05
