"""What ships with the app besides MNIST: the Fashion-MNIST test set and models trained
on Fashion-MNIST; KMNIST is only ever downloaded."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from models import data, metrics
from models.checkpoint import bundled_checkpoints, bundled_models_dir, load_checkpoint
from models.data import as_float_images

pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")


@pytest.fixture(scope="module")
def fashion():
    return data.load_bundled("fashion-mnist")


def test_the_bundled_fashion_mnist_test_set_loads_with_its_class_names(fashion):
    assert fashion.is_subset and fashion.title == "Fashion-MNIST"
    assert fashion.test_images.shape == (10_000, 28, 28) and fashion.test_images.dtype == np.uint8
    assert np.bincount(fashion.test_labels, minlength=10).tolist() == [1000] * 10
    assert fashion.class_names[9] == "Ankle boot"
    assert "bundled" in fashion.source and "10,000" in fashion.source
    # Clothes, not digits: far more ink than MNIST's strokes.
    mnist = data.load_bundled("mnist")
    assert fashion.test_images.mean() > 1.5 * mnist.test_images.mean()
    assert (data.bundled_data_dir("fashion-mnist").parent / "ATTRIBUTION.md").read_text().count("Fashion-MNIST") >= 2


def test_kmnist_is_not_bundled_and_says_how_to_get_it():
    with pytest.raises(data.DatasetNotFoundError, match="download"):
        data.load_bundled("kmnist")
    assert bundled_checkpoints("kmnist") == []


def test_the_fashion_mnist_models_are_bundled_and_were_trained_on_fashion_mnist():
    paths = bundled_checkpoints("fashion-mnist")
    assert {"ae", "vae", "linear", "dae"} <= {p.stem for p in paths}
    assert bundled_models_dir("fashion-mnist").name == "fashion-mnist"
    for path in paths:
        ck = load_checkpoint(path)
        assert ck.meta["dataset"] == "fashion-mnist", path.name
        assert ck.meta["epochs_done"] >= 10


@pytest.mark.parametrize("kind", ["ae", "vae", "dae", "linear"])
def test_each_fashion_mnist_model_reconstructs_clothes_better_than_the_mean_image(fashion, kind):
    model = load_checkpoint(bundled_models_dir("fashion-mnist") / f"{kind}.pt").model
    x = as_float_images(fashion.test_images[:1000])
    with torch.inference_mode():
        mse = metrics.reconstruction_mse(model, x)
    baseline = float(((x - x.mean(0)) ** 2).mean())
    assert mse < 0.6 * baseline, f"{kind}: MSE {mse:.4f}, mean image {baseline:.4f}"


def test_the_fashion_mnist_evaluation_record_has_the_iwae_bound_below_the_negative_elbo():
    figures = json.loads((bundled_models_dir("fashion-mnist") / "eval.json").read_text())
    assert figures["dataset"] == "fashion-mnist"
    assert 0 < figures["vae.iwae_nll"] < figures["vae.nelbo"]
    assert figures["dae.psnr_gain_db"] > 3


def _context(ds, name: str, count: int | None = None):
    from explorer.startup import images_context

    return images_context(ds.test_images[:count], ds.test_labels[:count], name=name,
                          class_names=tuple(ds.class_names))


def test_made_on_fashion_mnist_the_elbo_tab_uses_the_fashion_vae(qtbot, fashion):
    from explorer.lab.elbo import ElboExperiment

    w = ElboExperiment(dataset=_context(fashion, "fashion-mnist"))
    qtbot.addWidget(w)
    assert w.model_path == bundled_models_dir("fashion-mnist") / "vae.pt"
    assert w.ensure_loaded() and "Ankle boot" in w.terms_view.class_label.text()
    # KMNIST ships no models: the tab says what it has instead.
    other = ElboExperiment(dataset=_context(fashion, "kmnist", 50))
    qtbot.addWidget(other)
    assert not other.ensure_loaded() and "No VAE is bundled" in other.last_error
    w.shutdown(1.0)
    other.shutdown(1.0)


def test_the_elbo_tab_switches_to_fashion_mnist_and_its_vae(qtbot, fashion):
    from explorer.lab.elbo import ElboExperiment
    from models import elbo

    w = ElboExperiment(dataset=_context(data.load_bundled("mnist"), "mnist"))
    qtbot.addWidget(w)
    w.show()
    assert w.ensure_loaded(), w.last_error
    mnist_kl = w.terms_view.terms.kl

    assert w.set_dataset(_context(fashion, "fashion-mnist"))
    assert w.ensure_loaded(), w.last_error
    view = w.terms_view
    assert view.index == 0 and "Ankle boot" in view.class_label.text()
    path = bundled_models_dir("fashion-mnist") / "vae.pt"
    assert w.model_path == path
    expected = elbo.elbo_terms(load_checkpoint(path).model, fashion.test_images[0], seed=0)
    assert view.terms.recon == pytest.approx(expected.recon) and view.terms.kl != mnist_kl
    assert view.input_view.image() == pytest.approx(fashion.test_images[0] / 255, abs=1e-6)
    w.shutdown(1.0)


def test_the_larger_latent_tab_says_its_models_are_mnist_only(qtbot, fashion):
    from explorer.lab.latent import LargerLatentExperiment

    mnist = data.load_bundled("mnist")
    w = LargerLatentExperiment(dataset=_context(mnist, "mnist"))
    qtbot.addWidget(w)
    w.show()
    assert w.ensure_loaded()
    assert w.set_dataset(_context(fashion, "fashion-mnist"))
    assert not w.ensure_loaded()
    assert w.space is None and "MNIST only" in w.intro_label.text()
    # Made on Fashion-MNIST (a dataset switch builds it again), it says so too.
    fresh = LargerLatentExperiment(dataset=_context(fashion, "fashion-mnist"))
    qtbot.addWidget(fresh)
    assert not fresh.ensure_loaded() and "MNIST only" in fresh.last_error
    assert w.set_dataset(_context(mnist, "mnist", 0))
    assert not w.ensure_loaded() and "No test images" in w.last_error


@pytest.mark.slow
def test_a_training_run_on_fashion_mnist_without_the_full_set_uses_the_bundled_clothes(tmp_path):
    from models.jobs import JobFinished, JobStarted, TrainJob
    from models.nets import NetConfig
    from models.train import TrainConfig
    from synthetic import run_job_here

    job = TrainJob(configs=(NetConfig(kind="ae", hidden=(16,)),), train=TrainConfig(epochs=1, batch_size=1000),
                   dataset="fashion-mnist", data_dir=str(tmp_path / "empty"), threads=1, snapshot_interval_s=0.0)
    messages = run_job_here(job)
    assert isinstance(messages[-1], JobFinished), messages[-1]
    started = next(m for m in messages if isinstance(m, JobStarted))
    assert started.dataset_title == "Fashion-MNIST" and started.is_subset and started.train_count == 10_000
