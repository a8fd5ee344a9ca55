"""Convolutional AE / VAE / DAE and colour images through the Qt-free model layer:
shapes, configs, the output bias, training, checkpoints, metrics."""
import json
import math

import numpy as np
import pytest
import torch

from colour_shapes import coloured_shapes
from models import computation, data, metrics
from models.checkpoint import load_checkpoint, save_checkpoint
from models.conv import BiasMap
from models.live_space import decoder_only_model
from models.nets import VAE, ConfigError, NetConfig, VAEOutput, build_model, default_hidden
from models.train import TrainConfig, Trainer


def conv_config(kind="vae", side=32, channels=3, latent=4, **kw):
    return NetConfig(kind=kind, arch="conv", image_shape=(side, side), channels=channels, latent=latent,
                     hidden=kw.pop("hidden", (8, 16) if side == 28 else (8, 16, 16)), **kw)


@pytest.mark.parametrize("kind", ["ae", "vae", "dae"])
@pytest.mark.parametrize("side", [28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_every_conv_kind_keeps_the_model_contract(kind, side, channels):
    config = conv_config(kind, side, channels)
    model = build_model(config, seed=0).eval()
    pixels = channels * side * side
    assert config.pixels == pixels
    flat = torch.rand(5, pixels, generator=torch.Generator().manual_seed(1))
    planes = flat.reshape(5, channels, side, side)
    codes = model.embed(flat)
    assert codes.shape == (5, 4)
    # The (B, C, H, W) layout is the same images as their channels-first rows.
    assert torch.allclose(model.embed(planes), codes, atol=1e-6)
    decoded = model.decode(codes)
    assert decoded.shape == (5, pixels) and decoded.min() >= 0 and decoded.max() <= 1
    assert torch.allclose(model.reconstruct(flat), decoded, atol=1e-6)
    out = model(flat)
    if kind == "vae":
        assert isinstance(out, VAEOutput) and isinstance(model, VAE)
        assert out.logits.shape == (5, pixels) and out.mu.shape == out.logvar.shape == out.z.shape == (5, 4)
        assert model.encode(flat)[0].shape == (5, 4)
    else:
        assert out.shape == (5, pixels)
        assert torch.allclose(model.encode(flat), codes)


def test_a_grey_conv_model_also_reads_h_w_batches():
    model = build_model(conv_config("ae", channels=1), seed=0).eval()
    x = torch.rand(3, 32, 32)
    assert torch.allclose(model.embed(x), model.embed(x.reshape(3, 1024)))


def test_colour_input_must_say_where_its_channels_are():
    model = build_model(conv_config("vae"), seed=0)
    with pytest.raises(ValueError, match=r"3072 values \(3 x 32x32, channels first\).*\(2, 32, 32, 3\)"):
        model.encode(torch.rand(2, 32, 32, 3))
    with pytest.raises(ValueError, match="3072"):
        model.encode(torch.rand(2, 1024))


def test_an_mlp_reads_colour_images_as_their_flat_rows():
    config = NetConfig(kind="vae", image_shape=(16, 16), channels=3, latent=3, hidden=(32,))
    model = build_model(config, seed=0)
    assert config.pixels == 768
    assert model.decode(torch.zeros(2, 3)).shape == (2, 768)
    assert model(torch.rand(2, 3, 16, 16)).logits.shape == (2, 768)


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"image_shape": (30, 30)}, r"square 28 x 28, 32 x 32 or 64 x 64 pixel images, got 30 x 30"),
        ({"image_shape": (32, 64)}, r"got 32 x 64"),
        ({"kind": "linear"}, r"linear autoencoder has no convolutional form"),
        ({"hidden": ()}, r"at least one conv layer"),
        ({"hidden": (4, 4, 4, 4, 4, 4)}, r"6 stride-2 conv layers do not fit 32 x 32"),
        ({"channels": 2}, r"channels must be 1 \(grey\) or 3 \(colour\), got 2"),
        ({"arch": "resnet"}, r"unknown architecture 'resnet'; choose mlp or conv"),
    ],
)
def test_configs_that_cannot_be_built_say_why(kw, message):
    args = {"kind": "vae", "arch": "conv", "image_shape": (32, 32), "channels": 3, "hidden": (8, 16), **kw}
    with pytest.raises(ConfigError, match=message):
        NetConfig(**args)


def test_default_hidden_sizes_per_architecture():
    assert default_hidden("mlp") == NetConfig().hidden == (512, 256)
    assert default_hidden("conv", (32, 32)) == (32, 64, 128)
    assert default_hidden("conv", (64, 64)) == (32, 64, 128, 256)
    assert default_hidden("conv", (28, 28)) == (32, 64)
    with pytest.raises(ConfigError, match="28, 32 or 64"):
        default_hidden("conv", (30, 30))


def test_old_config_dicts_load_as_grey_mlps_and_grey_mlp_dicts_do_not_change():
    old = {"kind": "vae", "image_shape": [28, 28], "latent": 2, "hidden": [512, 256], "likelihood": "bernoulli",
           "beta": 1.0, "loss": "mse", "noise": "gaussian", "noise_level": 0.5, "extra": {}}
    config = NetConfig.from_dict(old)
    assert config.channels == 1 and config.arch == "mlp" and config.pixels == 784
    # Saved without the new fields, so an older Latent Explorer still opens it.
    assert config.to_dict() == old
    colour = conv_config("dae", noise="grey", noise_level=1.0)
    d = json.loads(json.dumps(colour.to_dict()))
    assert d["channels"] == 3 and d["arch"] == "conv"
    assert NetConfig.from_dict(d) == colour


def test_seeded_conv_weights_are_torchs_own_and_leave_the_global_rng_alone():
    config = conv_config("vae")
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    seeded = build_model(config, seed=7)
    assert torch.equal(torch.rand(1), before)
    torch.manual_seed(7)
    from models.nets import ConvVAE

    plain = ConvVAE(config)
    for (name, a), (_, b) in zip(seeded.state_dict().items(), plain.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    assert not torch.equal(build_model(config, seed=8).encoder[0].weight, seeded.encoder[0].weight)


def test_the_output_starts_at_the_mean_image_in_channels_first_order():
    images, _ = coloured_shapes(60, side=32, seed=1)
    mean = data.as_float_images(images).mean(dim=0)
    model = build_model(conv_config("ae"), data_mean=mean, seed=0)
    bias_map = model.decoder[-2]
    assert isinstance(bias_map, BiasMap) and bias_map.bias.shape == (3, 32, 32)
    # The red plane holds logit(mean red), read from the stored channels-last images.
    red = images[..., 0].astype(np.float64).mean(axis=0) / 255.0
    expected = torch.logit(torch.tensor(red).clamp(1e-3, 1 - 1e-3)).float()
    assert torch.allclose(bias_map.bias[0], expected, atol=1e-4)
    with pytest.raises(ValueError, match="1024 values"):
        build_model(conv_config("ae"), data_mean=mean[:1024])


def test_a_conv_vae_learns_coloured_shapes_with_the_trainer(one_thread):
    images, _ = coloured_shapes(240, side=32, seed=0)
    train, test = images[:200], images[200:]
    test_x = data.as_float_images(test)
    config = conv_config("vae", latent=8, hidden=(8, 16, 32))
    model = build_model(config, data_mean=data.as_float_images(train).mean(dim=0), seed=0)
    untrained = metrics.negative_elbo(model, test_x)["nelbo"]
    trainer = Trainer(model, config=TrainConfig(epochs=6, batch_size=20, lr=3e-3, seed=0, device="cpu"),
                      train_x=train, test_x=test)
    result = trainer.fit()
    losses = [h.train["loss"] for h in result.history]
    assert result.epochs_done == 6 and losses[-1] < losses[0] - 30
    trained = metrics.negative_elbo(model, test_x)
    # Beyond the mean image it starts at (KL 0 there): it encodes something of each shape.
    assert trained["nelbo"] < untrained - 30 and trained["kl"] > 1, (untrained, trained)
    # The figures the trainer reports are the metrics' own, on colour images too.
    assert result.final_test["nelbo"] == pytest.approx(trained["nelbo"], rel=1e-4)
    bpd = metrics.bits_per_dim(trained["nelbo"], config.pixels)
    assert bpd == pytest.approx(trained["nelbo"] / (math.log(2) * 3072))
    assert 0 < bpd < 1


def test_a_conv_colour_checkpoint_loads_as_it_was_saved(tmp_path):
    config = conv_config("dae", side=64, noise="grey", noise_level=1.0, hidden=(8, 8, 16, 16))
    model = build_model(config, seed=3).eval()
    path = save_checkpoint(tmp_path / "colorizer.pt", model, meta={"dataset": "shapes"})
    loaded = load_checkpoint(path)
    assert loaded.config == config and loaded.config.arch == "conv" and loaded.config.channels == 3
    x = torch.rand(2, 3, 64, 64)
    assert torch.equal(loaded.model.reconstruct(x), model.reconstruct(x))


def test_a_training_snapshots_decoder_weights_rebuild_a_conv_decoder():
    # The Train panel decodes under the mouse from the 'decoder.' weights a snapshot carries.
    model = build_model(conv_config("vae"), seed=0).eval()
    state = {k: v.numpy().copy() for k, v in model.state_dict().items() if k.startswith("decoder")}
    assert any(k.endswith("bias") and v.shape == (3, 32, 32) for k, v in state.items())
    z = torch.randn(3, 4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(decoder_only_model(model.config, state).decode(z), model.decode(z))


def test_the_computation_view_refuses_conv_and_colour_models_with_the_reason():
    with pytest.raises(computation.TraceError, match="convolutional"):
        computation.trace(build_model(conv_config("ae", channels=1), seed=0), np.zeros((32, 32)))
    colour_mlp = build_model(NetConfig(kind="ae", image_shape=(8, 8), channels=3, hidden=(8,)), seed=0)
    with pytest.raises(computation.TraceError, match="colour"):
        computation.gradient_magnitudes(colour_mlp, np.zeros((3, 8, 8)))


def test_colour_pixels_go_to_channels_first_rows_and_back():
    images, _ = coloured_shapes(4, side=32, seed=2)
    rows = data.to_float(images)
    assert rows.shape == (4, 3072) and rows.dtype == np.float32
    # All of red first: row[0:1024] is the red plane.
    assert np.array_equal(rows[:, :1024].reshape(4, 32, 32), images[..., 0] / np.float32(255))
    tensor_rows = data.as_float_images(torch.from_numpy(images))
    assert torch.equal(tensor_rows, torch.from_numpy(rows))
    back = data.to_display(rows, (32, 32), 3)
    assert back.shape == (4, 32, 32, 3) and np.allclose(back * 255, images)
    assert data.to_display(rows[0], (32, 32), 3).shape == (32, 32, 3)
    grey = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    assert np.array_equal(data.to_float(grey), grey.reshape(2, 784) / np.float32(255))
    assert data.to_display(data.to_float(grey), (28, 28)).shape == (2, 28, 28)
    with pytest.raises(ValueError, match="3 x 28 x 28"):
        data.to_display(data.to_float(grey), (28, 28), 3)


def test_feed_back_takes_a_channels_last_colour_image():
    model = build_model(NetConfig(kind="ae", image_shape=(8, 8), channels=3, hidden=(16,)), seed=0)
    image = np.random.default_rng(0).random((8, 8, 3)).astype(np.float32)
    passes = metrics.feed_back(model, image, 2)
    assert passes.shape == (2, 8, 8, 3)
    first = model.reconstruct(data.as_float_images(image[None])).detach()
    assert np.allclose(passes[0], data.to_display(first.clamp(0, 1), (8, 8), 3)[0], atol=1e-6)


def test_bits_per_dim_refuses_a_pixel_count_that_is_not_one():
    assert metrics.bits_per_dim(math.log(2) * 784, 784) == pytest.approx(1.0)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="pixels"):
            metrics.bits_per_dim(100.0, bad)
