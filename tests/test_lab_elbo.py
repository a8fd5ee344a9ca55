"""The lab's ELBO and larger-latent experiments as a user meets them: the two terms
of -ELBO for one digit, the importance-weighted bound below it (also in
``main.py eval --json``), samples of q(z|x), a beta run trained in a real child
process, and dragging on the PCA plane of an 8-D latent space."""
from __future__ import annotations

import json
import math
import multiprocessing
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pytest
import torch

from explorer.startup import images_context
from models import data, elbo, losses
from models.checkpoint import bundled_models_dir, load_checkpoint, save_checkpoint
from models.data import as_float_images
from models.nets import NetConfig
from models.train import TrainConfig, Trainer
from qt_gestures import drag
from synthetic import labelled_blobs

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")


@pytest.fixture(scope="module")
def mnist():
    return data.load_bundled("mnist")


@pytest.fixture(scope="module")
def vae():
    return load_checkpoint(bundled_models_dir("mnist") / "vae.pt", expect_kind="vae").model


@pytest.fixture
def no_rate_limit():
    """pyqtgraph drops mouse moves closer than 10 ms apart; synthetic ones are."""
    old = pg.getConfigOption("mouseRateLimit")
    pg.setConfigOption("mouseRateLimit", -1)
    yield
    pg.setConfigOption("mouseRateLimit", old)


# ---------------------------------------------------------------- models/elbo.py


def test_the_two_terms_add_up_to_the_negative_elbo_estimated_from_log_weights(vae, mnist):
    image = mnist.test_images[3]
    terms = elbo.elbo_terms(vae, image, samples=64, seed=0)
    assert terms.kl >= 0 and terms.recon > 0
    assert terms.nelbo == pytest.approx(terms.recon + terms.kl)

    # Independently: -ELBO = -E_q[log p(x|z) + log p(z) - log q(z|x)], all by sampling.
    x = as_float_images(image[None])
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        mu, logvar = vae.encode(x)
        z = vae.reparameterize(mu.expand(4000, -1), logvar.expand(4000, -1), gen)
        log_px_z = -losses.bce_with_logits(vae.decode_logits(z), x.expand(4000, -1))
        log_pz = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(1)
        log_qz = torch.distributions.Normal(mu, torch.exp(0.5 * logvar)).log_prob(z).sum(1)
    per_sample = -(log_px_z + log_pz - log_qz)
    sampled = float(per_sample.mean())
    # Both are Monte-Carlo estimates: agree within four standard errors of the 64-sample one.
    assert terms.nelbo == pytest.approx(sampled, abs=4 * float(per_sample.std()) / 64**0.5)
    np.testing.assert_allclose(terms.mu, mu[0].numpy(), rtol=1e-5)


def test_kl_is_zero_only_when_the_posterior_is_the_prior(vae, mnist):
    kls = [elbo.elbo_terms(vae, mnist.test_images[i], samples=4).kl for i in range(20)]
    assert min(kls) > 0.1  # a posterior that says something about x differs from N(0, I)
    mu, logvar = torch.zeros(1, 2), torch.zeros(1, 2)
    assert float(losses.kl_normal(mu, logvar)[0]) == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize("index", [0, 1, 2, 7])
def test_the_importance_weighted_bound_lies_below_the_negative_elbo(vae, mnist, index):
    image = mnist.test_images[index]
    # Where the posterior is tight the gap is a few hundredths of a nat: the -ELBO is
    # estimated with enough samples that its own noise stays below that.
    terms = elbo.elbo_terms(vae, image, samples=4096, seed=index)
    bound = elbo.iwae_bound(vae, image, k=1000, seed=index)
    assert 0 < bound < terms.nelbo


def test_samples_of_the_posterior_spread_as_sigma_says_and_look_like_the_input(vae, mnist):
    image = mnist.test_images[0]
    terms = elbo.elbo_terms(vae, image)
    z, images = elbo.posterior_samples(vae, image, 3000, seed=0)
    np.testing.assert_allclose(z.mean(axis=0), terms.mu, atol=4 * terms.sigma.max() / math.sqrt(3000) + 1e-6)
    np.testing.assert_allclose(z.std(axis=0), terms.sigma, rtol=0.08)
    assert images.shape == (3000, 28, 28) and images.min() >= 0 and images.max() <= 1
    x = image.astype(np.float32) / 255
    assert np.corrcoef(images[:8].reshape(8, -1).mean(0), x.ravel())[0, 1] > 0.8


def test_sharpness_falls_when_images_blur(mnist):
    x = mnist.test_images[:16].astype(np.float32) / 255
    blurred = (x + np.roll(x, 1, 1) + np.roll(x, -1, 1) + np.roll(x, 1, 2) + np.roll(x, -1, 2)) / 5
    assert elbo.sharpness(x, x) == pytest.approx(1.0)
    assert elbo.sharpness(blurred, x) < 0.8


def test_a_collapsed_dimension_is_not_counted_as_used():
    rng = np.random.default_rng(0)
    codes = np.column_stack([rng.normal(0, 1, 500), rng.normal(0.3, 0.02, 500)])
    assert elbo.active_dimensions(codes) == 1
    assert elbo.active_dimensions(rng.normal(0, 1, (500, 8))) == 8


def test_the_beta_slider_spans_a_tenth_to_ten_on_a_log_scale():
    steps = 40
    assert elbo.beta_from_position(0, steps) == pytest.approx(0.1)
    assert elbo.beta_from_position(steps, steps) == pytest.approx(10.0)
    assert elbo.beta_from_position(steps // 2, steps) == pytest.approx(1.0)
    for beta in (0.1, 0.32, 1.0, 4.0, 10.0):
        assert elbo.beta_from_position(elbo.position_from_beta(beta, steps), steps) == pytest.approx(beta, rel=0.07)
    with pytest.raises(ValueError):
        elbo.beta_from_position(steps + 1, steps)


def test_an_autoencoder_has_no_elbo(mnist):
    ae = load_checkpoint(bundled_models_dir("mnist") / "ae.pt").model
    with pytest.raises(TypeError, match="variational"):
        elbo.elbo_terms(ae, mnist.test_images[0])


# ---------------------------------------------------------------- main.py eval


@pytest.mark.slow
def test_eval_json_reports_an_iwae_bound_below_the_negative_elbo_with_k_1000_by_default(tmp_path):
    images, labels = labelled_blobs(400)
    folder = tmp_path / "blobs"
    for prefix, sl in (("train", slice(0, 300)), ("t10k", slice(300, 400))):
        data.write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images[sl], gzip=True)
        data.write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels[sl].astype(np.uint8), gzip=True)
    torch.manual_seed(0)
    from models.nets import build_model

    model = build_model(NetConfig(kind="vae", hidden=(32,)), data_mean=as_float_images(images[:300]).mean(0))
    Trainer(model, config=TrainConfig(epochs=3, batch_size=32, lr=3e-3, device="cpu"),
            train_x=images[:300], test_x=images[300:]).fit()
    path = save_checkpoint(tmp_path / "vae.pt", model, meta={"dataset": "mnist"})

    import os

    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", LATENT_EXPLORER_DEVICE="cpu", OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, str(ROOT / "main.py"), "eval", str(path), "--data-dir", str(folder), "--json"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    figures = json.loads(out.stdout)
    assert np.isfinite(figures["vae.iwae_nll"])
    assert figures["vae.iwae_nll"] < figures["vae.nelbo"]

    from main import build_parser

    assert build_parser().parse_args(["eval"]).iwae_k == 1000


def test_the_bundled_evaluation_records_the_iwae_bound_below_the_negative_elbo():
    figures = json.loads((bundled_models_dir("mnist") / "eval.json").read_text())
    assert 0 < figures["vae.iwae_nll"] < figures["vae.nelbo"]


# ---------------------------------------------------------------- the ELBO tab


def _show(qtbot, w) -> None:
    """Show a lab experiment at the window's size and load its model, as opening its tab does."""
    qtbot.addWidget(w)
    w.resize(1400, 850)
    w.show()
    qtbot.waitExposed(w)
    assert w.ensure_loaded(), w.last_error


@pytest.fixture
def elbo_tab(qtbot, mnist):
    from explorer.lab.elbo import ElboExperiment

    w = ElboExperiment(dataset=images_context(mnist.test_images, mnist.test_labels, name="mnist"))
    _show(qtbot, w)
    yield w
    w.shutdown(2.0)


def test_the_elbo_tab_shows_the_terms_posterior_and_samples_of_the_chosen_image(elbo_tab, vae, mnist):
    w = elbo_tab
    w.show_image(0)
    v = w.terms_view
    terms = elbo.elbo_terms(vae, mnist.test_images[0], seed=0)
    shown = {k: float(label.text().replace("<b>", "").split("</b>")[0].split()[0]) for k, label in v.term_values.items()}
    assert shown["recon"] == pytest.approx(terms.recon, abs=0.01)
    assert shown["kl"] == pytest.approx(terms.kl, abs=0.01)
    assert shown["nelbo"] == pytest.approx(shown["recon"] + shown["kl"], abs=0.02)
    assert shown["iwae"] < shown["nelbo"]
    assert "tighter" in v.iwae_label.text()
    assert v.bar.terms() == pytest.approx((terms.recon, terms.kl))

    # q(z|x): the 1- and 2-sigma ellipses around the marked mean, the samples inside the view.
    curves = v.close_plot.ellipse_curves()
    assert len(curves) == 2
    centre = np.asarray(v.close_plot.marker())
    np.testing.assert_allclose(centre, terms.mu, atol=1e-5)
    r1 = np.linalg.norm(curves[0] - centre, axis=1).max()
    r2 = np.linalg.norm(curves[1] - centre, axis=1).max()
    assert r2 == pytest.approx(2 * r1, rel=1e-3)
    (x0, x1), (y0, y1) = v.close_plot.view_range()
    assert x0 < curves[1][:, 0].min() and curves[1][:, 0].max() < x1 and y0 < curves[1][:, 1].min()
    assert v.samples_strip.count() == 8
    samples = np.stack(v.samples_strip.images())
    assert np.abs(samples[0] - samples[1]).max() > 0.01  # different draws, different images

    first = dict(shown)
    v.next_button.click()
    assert v.index == 1 and v.index_spin.value() == 1
    assert v.term_values["recon"].text() != f"{first['recon']:.2f} nats"
    assert v.input_view.image() == pytest.approx(mnist.test_images[1] / 255, abs=1e-6)


def test_clicking_a_point_on_the_prior_plot_picks_that_image(elbo_tab, qtbot):
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    v = elbo_tab.terms_view
    target = 42
    xy = v.space.xy[target]
    v.prior_plot.zoom_to((float(xy[0]), float(xy[1])), 0.02)
    pos = v.prior_plot.view_to_widget(float(xy[0]), float(xy[1])).toPoint()
    QTest.mouseClick(v.prior_plot.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, pos)
    qtbot.waitUntil(lambda: v.index == target)


def _tiny_beta_tab(qtbot, *, epochs: int):
    from explorer.lab.elbo import ElboExperiment

    images, labels = labelled_blobs(600)
    w = ElboExperiment(dataset=images_context(images, labels, name="synthetic"),
                       model_path=bundled_models_dir("mnist") / "vae.pt", beta_epochs=epochs, beta_hidden=(32,),
                       snapshot_interval_s=0.05)
    _show(qtbot, w)
    return w


@pytest.mark.slow
def test_a_beta_run_trains_in_the_background_beside_beta_one_and_is_kept(qtbot):
    tab = _tiny_beta_tab(qtbot, epochs=3)
    w = tab.beta_study
    try:
        reference_before = w.beta_plots["reference"].plotItem.titleLabel.text
        assert "bundled" in reference_before  # the bundled VAE stands in until a run exists
        w.set_beta(4.0)
        assert w.current_beta() == pytest.approx(4.0, rel=0.07)
        beta = w.current_beta()
        with qtbot.waitSignal(w.controller.finished, timeout=120_000):
            w.train_button.click()
            assert not w.train_button.isEnabled() and w.cancel_button.isEnabled()
        assert set(w.runs) == {1.0, beta}
        assert w.progress.value() == w.progress.maximum()
        for side in ("reference", "chosen"):
            plot = w.beta_plots[side]
            assert plot.visible_point_count() == 600
            assert w.beta_strips[side].count() == 8
        assert f"β = {beta:g}" in w.beta_plots["chosen"].plotItem.titleLabel.text
        assert "bundled" not in w.beta_plots["reference"].plotItem.titleLabel.text
        # The two runs differ: the heavier KL term leaves a smaller KL.
        assert w.runs[beta].kl < w.runs[1.0].kl
        assert f"β = {beta:g}" in w.compare_label.text() and "sharpness" in w.compare_label.text()

        # A trained beta shows again at once, without training.
        assert w.train_button.text().startswith("Show")
        assert w.train_beta()
        assert not w.controller.is_active
    finally:
        tab.shutdown(2.0)


@pytest.mark.slow
def test_cancelling_a_beta_run_keeps_nothing_and_closing_leaves_no_process(qtbot):
    tab = _tiny_beta_tab(qtbot, epochs=500)
    w = tab.beta_study
    try:
        w.set_beta(0.1)
        with qtbot.waitSignal(w.controller.snapshot_changed, timeout=60_000):
            assert w.train_beta()
        with qtbot.waitSignal(w.controller.finished, timeout=30_000):
            w.cancel_button.click()
        assert w.runs == {}
        assert w.progress.format() == "Cancelled"
        assert "cancelled" in w.run_label.text()
        assert w.train_button.isEnabled()

        # Closing mid-run: shutdown stops and joins the child.
        with qtbot.waitSignal(w.controller.snapshot_changed, timeout=60_000):
            assert w.train_beta()
        tab.shutdown(2.0)
        assert not w.controller.is_active
        assert not [p for p in multiprocessing.active_children() if p.name == "latent-explorer-training"]
    finally:
        tab.shutdown(2.0)


# ---------------------------------------------------------------- the larger-latent tab


@pytest.fixture
def latent_tab(qtbot, mnist):
    from explorer.lab.latent import LargerLatentExperiment

    w = LargerLatentExperiment(dataset=images_context(mnist.test_images, mnist.test_labels, name="mnist"))
    _show(qtbot, w)
    return w


def test_dragging_on_the_plane_of_an_8d_latent_space_decodes_and_moving_changes_the_image(latent_tab, qtbot, no_rate_limit):
    w = latent_tab
    assert w.space.latent == 8 and w.space.is_projected
    assert "PCA plane" in w.plot.plotItem.titleLabel.text
    assert w.decoded_view.image() is None

    drag(w.plot, (0.0, 0.0), (-1.0, 0.5))
    qtbot.waitUntil(lambda: w.decoded_view.image() is not None)
    first = w.decoded_view.image()
    assert w.plot.crosshair() == pytest.approx((-1.0, 0.5), abs=0.1)

    drag(w.plot, (0.0, 0.0), (1.2, -0.8))
    qtbot.waitUntil(lambda: not np.array_equal(w.decoded_view.image(), first))
    assert np.abs(w.decoded_view.image() - first).mean() > 0.02
    # The image is the decoder's output at the plane point, in the full latent space.
    cx, cy = w.plot.crosshair()
    np.testing.assert_allclose(w.decoded_view.image(), w.space.decode_plane(np.array([[cx, cy]]))[0], atol=1e-6)


def test_the_plane_says_how_much_variance_it_holds_and_what_it_leaves_out(latent_tab):
    w = latent_tab
    codes = w.space.codes
    share = w.space.xy.astype(np.float64).var(axis=0).sum() / codes.var(axis=0).sum()
    assert w.plane_share() == pytest.approx(share, rel=1e-3)
    assert 0 < w.plane_share() < 1
    assert f"{100 * w.plane_share():.0f} %" in w.variance_label.text()
    assert "not shown" in w.intro_label.text()
    assert len(w.shares) == 8 and np.all(np.diff(w.shares) <= 1e-12)


def test_a_full_8d_code_reconstructs_better_than_its_shadow_on_the_plane(latent_tab):
    w = latent_tab
    w.select(0)
    assert w.original_view.image() is not None and w.shadow_view.image() is not None
    x = w.space.images[:200].reshape(200, 28, 28).numpy()
    full = w.space.reconstruct(np.arange(200))
    shadow = w.space.decode_plane(w.space.xy[:200])
    assert np.mean((full - x) ** 2) < 0.6 * np.mean((shadow - x) ** 2)


def test_the_lab_panel_lists_both_experiments(qtbot, mnist):
    from explorer.lab.panel import LabPanel

    panel = LabPanel(dataset=images_context(mnist.test_images[:500], mnist.test_labels[:500], name="mnist"))
    qtbot.addWidget(panel)
    try:
        assert {"elbo", "latent8"} <= set(panel.experiment_names())
        panel.show_experiment("latent8")
        panel.demo()
        assert panel.experiment("latent8").decoded_view.image() is not None
    finally:
        panel.shutdown(1.0)
