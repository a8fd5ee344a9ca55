"""Writer augmentation (models/augment.py, train --augment): what the encoder sees, what
the loss asks for, and the arguments that refuse it (issue #19)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from models import losses
from models.augment import AugmentError, WriterAugment
from models.checkpoint import load_checkpoint
from models.data import as_float_images, load_bundled
from models.nets import NetConfig, build_model
from models.train import TrainConfig, Trainer, TrainingError

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def digits() -> torch.Tensor:
    return as_float_images(load_bundled("mnist").test_images[:120])


def test_a_share_of_each_batch_is_swapped_for_its_own_distorted_copy(digits):
    aug = WriterAugment(digits, share=0.5, copies=2, seed=0)
    assert aug.pool.shape == (2, 120, 784)
    index = torch.arange(120)
    seen, _ = aug.replaced(digits, index, torch.Generator().manual_seed(3))
    changed = (seen - digits).abs().amax(dim=1) > 0.05
    assert 0.3 < changed.float().mean().item() < 0.7
    # A swapped row is one of that very digit's copies, not another digit's.
    for row in torch.nonzero(changed).flatten().tolist():
        copies = aug.pool[:, row].float() / 255.0
        assert (copies - seen[row]).abs().amax(dim=1).min().item() < 1e-6
    # The clean batch itself is left as it was (the loss's target).
    assert torch.equal(digits, as_float_images(load_bundled("mnist").test_images[:120]))


def test_the_copies_are_fixed_by_the_seed_and_differ_between_seeds(digits):
    a = WriterAugment(digits[:20], share=1.0, copies=1, seed=0).pool
    assert torch.equal(a, WriterAugment(digits[:20], share=1.0, copies=1, seed=0).pool)
    assert not torch.equal(a, WriterAugment(digits[:20], share=1.0, copies=1, seed=1).pool)


def test_augmentation_refuses_images_that_are_not_mnist_digits():
    with pytest.raises(AugmentError, match="28 x 28"):
        WriterAugment(torch.rand(4, 3 * 32 * 32), share=0.5, copies=1, seed=0)
    with pytest.raises(TrainingError, match="between 0 and 1"):
        TrainConfig(augment=1.5)


def test_the_loss_asks_for_the_original_while_the_encoder_sees_the_copy(digits, monkeypatch):
    model = build_model(NetConfig(kind="ae", latent=2, hidden=(32,)), data_mean=digits.mean(0), seed=0)
    calls = []
    real = losses.model_loss

    def spy(m, x_in, target, gen=None):
        calls.append((x_in.detach().clone(), target.detach().clone()))
        return real(m, x_in, target, gen)

    monkeypatch.setattr(losses, "model_loss", spy)
    trainer = Trainer(model, config=TrainConfig(epochs=1, batch_size=60, augment=1.0, augment_copies=1), train_x=digits)
    trainer.fit()
    assert len(calls) == 2
    x_in, target = calls[0]
    # Every input is distorted (share 1), every target is a clean training digit.
    assert ((x_in - target).abs().amax(dim=1) > 0.05).all()
    clean = {tuple(r) for r in (digits * 255).round().int().tolist()}
    assert all(tuple(r) in clean for r in (target * 255).round().int().tolist())


@pytest.fixture(scope="module")
def small_digits(tmp_path_factory) -> Path:
    """600 bundled MNIST digits with their labels as an .npz (train --images): the
    distorted copies of 600 digits take a moment, of the 10,000 bundled ones many seconds."""
    ds = load_bundled("mnist")
    path = tmp_path_factory.mktemp("digits") / "digits.npz"
    np.savez(path, x=ds.test_images[:600], y=ds.test_labels[:600])
    return path


def _cli_env(tmp_path: Path) -> dict:
    # The copies are cached under the test's folder, not the user's cache.
    return {**os.environ, "PYTHONWARNINGS": "ignore", "LATENT_EXPLORER_CACHE": str(tmp_path / "cache")}


def test_train_augment_records_the_share_in_the_checkpoint(small_digits, tmp_path):
    out = tmp_path / "aug.pt"
    run = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "train", "--model", "ae", "--images", str(small_digits), "--epochs", "1",
         "--hidden", "32", "--augment", "0.3", "--augment-copies", "1", "--threads", "1", "--out", str(out)],
        capture_output=True, text=True, timeout=600, env=_cli_env(tmp_path),
    )
    assert run.returncode == 0, run.stderr
    assert "distorted copies" in run.stdout
    train = load_checkpoint(out).meta["train"]
    assert train["augment"] == 0.3 and train["augment_copies"] == 1


def test_a_conv_model_of_mnist_digits_trains_with_augmentation_and_the_term(small_digits, tmp_path):
    # The lab's latent-8 models are convolutional at MNIST's own 28 pixels (issue #19).
    out = tmp_path / "conv.pt"
    run = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "train", "--model", "vae", "--arch", "conv", "--hidden", "8", "16",
         "--latent", "8", "--images", str(small_digits), "--epochs", "1", "--augment", "0.75", "--augment-copies", "1",
         "--invariance", "5", "--threads", "1", "--out", str(out)],
        capture_output=True, text=True, timeout=600, env=_cli_env(tmp_path),
    )
    assert run.returncode == 0, run.stderr
    assert "invariance" in run.stdout
    ck = load_checkpoint(out)
    assert (ck.config.arch, ck.config.image_shape, ck.config.hidden) == ("conv", (28, 28), (8, 16))
    assert ck.meta["train"]["invariance"] == 5.0
    assert ck.model.embed(as_float_images(load_bundled("mnist").test_images[:3])).shape == (3, 8)


@pytest.mark.parametrize("args, says", [
    (["--augment", "1.5"], "--augment"),
    (["--augment", "nan"], "--augment"),
    (["--augment", "0.5", "--augment-copies", "0"], "--augment-copies"),
    (["--freeze-decoder"], "--init"),
    (["--invariance", "0.1"], "--augment"),
    (["--augment", "0.5", "--invariance", "-1"], "--invariance"),
    (["--augment", "0.5", "--invariance", "inf"], "--invariance"),
])
def test_a_bad_augment_argument_is_one_error_line(args, says, tmp_path):
    run = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "train", "--model", "ae", "--bundled", *args, "--out", str(tmp_path / "o.pt")],
        capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 2
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and says in errors[0]
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "o.pt").exists()



def test_train_init_starts_from_a_checkpoint_and_refuses_one_of_another_shape(small_digits, tmp_path):
    vae = ROOT / "resources" / "models" / "mnist" / "vae.pt"
    base = [sys.executable, str(ROOT / "main.py"), "train", "--images", str(small_digits), "--epochs", "1", "--threads", "1"]
    run = subprocess.run([*base, "--model", "vae", "--init", str(vae), "--freeze-decoder", "--out", str(tmp_path / "warm.pt")],
                         capture_output=True, text=True, timeout=600, env=_cli_env(tmp_path))
    assert run.returncode == 0, run.stderr
    # A warm start begins where the bundled VAE is: one short epoch leaves a trained model's figure
    # (a fresh VAE after one epoch on 480 digits is above 200 nats).
    warm = load_checkpoint(tmp_path / "warm.pt")
    assert warm.meta["test"]["nelbo"] < 150
    # --freeze-decoder: the decoder is the bundled one to the bit, the encoder has moved on.
    assert warm.meta["train"]["freeze_decoder"] is True
    start = load_checkpoint(vae).model
    assert all(torch.equal(a, b) for a, b in zip(warm.model.decoder.parameters(), start.decoder.parameters(), strict=True))
    assert not torch.equal(warm.model.mu_head.weight, start.mu_head.weight)
    for args, says in ((["--model", "ae"], "kind vae, not ae"), (["--model", "vae", "--latent", "8"], "latent 2, not 8"),
                       (["--model", "vae", "--hidden", "64"], "hidden layers")):
        run = subprocess.run([*base, *args, "--init", str(vae), "--out", str(tmp_path / "bad.pt")],
                             capture_output=True, text=True, timeout=600)
        errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
        assert run.returncode == 2 and len(errors) == 1 and says in errors[0], run.stderr
        assert "Traceback" not in run.stderr and not (tmp_path / "bad.pt").exists()


def test_a_frozen_decoder_stays_as_it_was_while_the_encoder_learns(digits):
    model = build_model(NetConfig(kind="ae", latent=2, hidden=(32,)), data_mean=digits.mean(0), seed=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    Trainer(model, config=TrainConfig(epochs=2, batch_size=40, freeze_decoder=True), train_x=digits).fit()
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in after if k.startswith("decoder."))
    assert not all(torch.equal(before[k], after[k]) for k in after if k.startswith("encoder."))
    # A model without a decoder of its own is refused, not trained whole.
    with pytest.raises(TrainingError, match="no separate decoder"):
        Trainer(torch.nn.Linear(784, 784), config=TrainConfig(freeze_decoder=True), train_x=digits)


def test_the_copies_are_cached_and_a_larger_cached_set_serves_a_smaller_run(digits, monkeypatch, tmp_path):
    monkeypatch.setenv("LATENT_EXPLORER_CACHE", str(tmp_path))
    made = []
    first = WriterAugment(digits[:30], share=0.5, copies=2, seed=4, progress=lambda done, total: made.append(done))
    assert len(list((tmp_path / "augment").glob("*.npz"))) == 1
    steps = len(made)
    again = WriterAugment(digits[:30], share=0.5, copies=1, seed=4, progress=lambda done, total: made.append(done))
    assert len(made) == steps + 1  # read from the cache: one "all done" report, no work
    assert torch.equal(again.pool[0], first.pool[0])
    # ...and it is what a run of one copy makes from scratch.
    monkeypatch.setenv("LATENT_EXPLORER_CACHE", str(tmp_path / "fresh"))
    assert torch.equal(WriterAugment(digits[:30], share=0.5, copies=1, seed=4).pool[0], first.pool[0])


def test_a_damaged_cache_is_made_again(digits, monkeypatch, tmp_path):
    monkeypatch.setenv("LATENT_EXPLORER_CACHE", str(tmp_path))
    first = WriterAugment(digits[:20], share=0.5, copies=1, seed=5)
    (cached,) = (tmp_path / "augment").glob("*.npz")
    cached.write_bytes(b"not a zip file")
    assert torch.equal(WriterAugment(digits[:20], share=0.5, copies=1, seed=5).pool, first.pool)
    with np.load(cached, allow_pickle=False) as z:
        assert z["pool"].shape == (1, 20, 784)


def test_the_nearest_code_term_is_low_when_each_copy_is_nearest_its_original_and_blind_to_scale():
    clean = torch.tensor([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0], [4.0, 4.0]])
    rows = torch.tensor([0, 2, 3])
    near = clean[rows] + 0.1
    swapped = clean[torch.tensor([1, 3, 0])] + 0.1
    right = losses.nearest_code_loss(near, clean, rows)
    wrong = losses.nearest_code_loss(swapped, clean, rows)
    assert right.item() < 0.05 < 3.0 < wrong.item()
    # Ten times larger codes are the same arrangement: the same loss, so shrinking or
    # blowing up the latent space buys nothing.
    assert losses.nearest_code_loss(10 * near, 10 * clean, rows).item() == pytest.approx(right.item(), rel=1e-4)
    assert losses.nearest_code_loss(near[:0], clean, rows[:0]).item() == 0.0


def _own_nearest(model, digits: torch.Tensor, distorted: torch.Tensor) -> float:
    """The share of distorted digits whose nearest clean code is their own original's."""
    with torch.no_grad():
        d = torch.cdist(model.embed(distorted), model.embed(digits))
    return (d.argmin(dim=1) == torch.arange(len(digits))).float().mean().item()


def test_the_invariance_term_puts_a_distorted_digit_nearest_its_own_original(digits):
    def trained(weight: float):
        model = build_model(NetConfig(kind="ae", latent=8, hidden=(64,)), data_mean=digits.mean(0), seed=0)
        config = TrainConfig(epochs=40, batch_size=40, augment=0.75, augment_copies=1, invariance=weight)
        result = Trainer(model, config=config, train_x=digits).fit()
        return model.eval(), result

    plain, _ = trained(0.0)
    held, result = trained(0.3)
    # The copies it trained on: with the term, a distorted digit's code is far more often
    # nearest its own original among the 120 than without it.
    distorted = WriterAugment(digits, share=1.0, copies=1, seed=0).pool[0].float() / 255.0
    assert _own_nearest(held, digits, distorted) > _own_nearest(plain, digits, distorted) + 0.2
    # The term is reported and falls as it trains; the checkpoint's settings record it.
    terms = [e.train["invariance"] for e in result.history]
    assert terms[-1] < 0.5 * terms[0]
    with pytest.raises(TrainingError, match="needs augmentation"):
        TrainConfig(invariance=0.1)
    with pytest.raises(TrainingError, match="torchrun"):
        Trainer(plain, config=TrainConfig(augment=0.5, invariance=0.1), train_x=digits, group=object())  # type: ignore[arg-type]
