"""The training loop: the loss goes down, callbacks report progress, a stop is
honoured, a diverging run fails cleanly, seeds reproduce, and a linear AE ends
up spanning the PCA subspace."""
import math

import numpy as np
import pytest
import torch

from models import metrics
from models.data import as_float_images
from models.nets import KINDS, NetConfig, build_model
from models.train import (
    EpochInfo,
    NonFiniteLossError,
    StepInfo,
    TrainConfig,
    Trainer,
    TrainingError,
    select_device,
)
from synthetic import blob_images

HIDDEN = (64, 32)
N_TRAIN, BATCH = 256, 32
STEPS_PER_EPOCH = N_TRAIN // BATCH


TRAIN_X = blob_images(N_TRAIN, seed=0)
TEST_X = blob_images(64, seed=1)


def tiny(kind: str, seed: int = 0):
    torch.manual_seed(seed)
    return build_model(NetConfig(kind=kind, latent=2, hidden=HIDDEN))


def config(**changes) -> TrainConfig:
    base = dict(epochs=4, batch_size=BATCH, lr=3e-3, seed=0, device="cpu")
    base.update(changes)
    return TrainConfig(**base)


def all_finite(model) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.state_dict().values())


# ------------------------------------------------------- end-to-end training

EXPECTED_TEST_KEYS = {
    "ae": {"mse"},
    "linear": {"mse"},
    "vae": {"mse", "nelbo", "recon", "kl"},
    "dae": {"mse", "denoise_mse", "psnr_noisy", "psnr_out"},
}


@pytest.mark.parametrize("kind", KINDS)
def test_training_lowers_the_loss_and_reports_progress(kind):
    steps: list[StepInfo] = []
    epochs: list[EpochInfo] = []
    model = tiny(kind)
    trainer = Trainer(
        model, config=config(), train_x=TRAIN_X, test_x=TEST_X, on_step=steps.append, on_epoch=epochs.append
    )
    result = trainer.fit()

    total = 4 * STEPS_PER_EPOCH
    assert not result.stopped and result.epochs_done == 4
    assert [s.step for s in steps] == list(range(1, total + 1))
    assert all(s.total_steps == total for s in steps)
    assert [s.epoch for s in steps] == [e for e in range(4) for _ in range(STEPS_PER_EPOCH)]
    assert steps[-1].samples == 4 * N_TRAIN
    assert all(math.isfinite(s.losses["loss"]) and s.samples_per_s > 0 for s in steps)
    assert steps[-1].lr < steps[0].lr  # cosine schedule

    assert [e.epoch for e in epochs] == [1, 2, 3, 4]
    assert result.history == epochs
    for info in epochs:
        assert info.epochs == 4
        assert EXPECTED_TEST_KEYS[kind] <= set(info.test)
        assert all(math.isfinite(v) for v in info.test.values())
    assert epochs[-1].train["loss"] < epochs[0].train["loss"]
    assert epochs[-1].test["mse"] < epochs[0].test["mse"]
    assert result.final_test == epochs[-1].test
    assert not model.training  # ready to use for plotting


@pytest.mark.parametrize("kind", ["ae", "vae"])
def test_training_beats_the_mean_image(kind):
    """Started at the mean image (as the app does), training learns more than the mean."""
    mean = as_float_images(TRAIN_X).mean(0)
    torch.manual_seed(0)
    model = build_model(NetConfig(kind=kind, latent=2, hidden=HIDDEN), data_mean=mean)
    result = Trainer(model, config=config(epochs=6), train_x=TRAIN_X, test_x=TEST_X).fit()
    mean_mse = float(((as_float_images(TEST_X) - mean) ** 2).mean())
    assert result.history[0].test["mse"] < 1.2 * mean_mse
    assert result.final_test["mse"] < 0.8 * mean_mse


def test_denoising_ae_cleans_noisy_inputs():
    model = tiny("dae")
    result = Trainer(model, config=config(epochs=6), train_x=TRAIN_X, test_x=TEST_X).fit()
    figures = result.final_test
    assert figures["psnr_out"] > figures["psnr_noisy"]


def test_uint8_images_train_like_floats():
    as_uint8 = (TRAIN_X * 255).round().astype(np.uint8)
    as_uint8.flags.writeable = False  # e.g. a memory-mapped IDX file
    result = Trainer(tiny("ae"), config=config(epochs=2), train_x=as_uint8, test_x=TEST_X).fit()
    assert result.epochs_done == 2
    assert result.history[-1].train["loss"] < result.history[0].train["loss"]


def test_steps_generator_yields_every_step_and_epoch_in_order():
    trainer = Trainer(tiny("vae"), config=config(epochs=2), train_x=TRAIN_X)
    events = list(trainer.steps())
    kinds = ["S" if isinstance(e, StepInfo) else "E" for e in events]
    assert kinds == (["S"] * STEPS_PER_EPOCH + ["E"]) * 2
    assert trainer.result.epochs_done == 2 and not trainer.result.stopped
    assert events[-1].test == {}  # no test set given


def test_an_evaluation_budget_skips_middle_epochs_but_never_the_first_or_last():
    # A share no evaluation fits in: only the epochs that are always evaluated are.
    trainer = Trainer(tiny("vae"), config=config(epochs=5), train_x=TRAIN_X, test_x=TEST_X, eval_share=1e-12)
    history = trainer.fit().history
    assert [bool(h.test) for h in history] == [True, False, False, False, True]
    assert set(history[0].test) == EXPECTED_TEST_KEYS["vae"]
    # Without a budget every epoch is evaluated.
    unbudgeted = Trainer(tiny("vae"), config=config(epochs=3), train_x=TRAIN_X, test_x=TEST_X).fit().history
    assert all(h.test for h in unbudgeted)


def test_a_stopped_run_reports_the_latest_test_figures_it_has():
    seen: list[EpochInfo] = []
    trainer = Trainer(tiny("ae"), config=config(epochs=6), train_x=TRAIN_X, test_x=TEST_X, eval_share=1e-12,
                      on_epoch=seen.append, should_stop=lambda: len(seen) >= 3)
    result = trainer.fit()
    assert result.stopped and [bool(h.test) for h in result.history] == [True, False, False]
    assert result.final_test == result.history[0].test and "mse" in result.final_test


@pytest.mark.parametrize("share", [0.0, -0.1, 1.5])
def test_an_evaluation_share_outside_zero_to_one_is_refused(share):
    with pytest.raises(TrainingError, match="eval_share"):
        Trainer(tiny("ae"), config=config(), train_x=TRAIN_X, eval_share=share)


def test_an_empty_training_set_is_refused():
    with pytest.raises(TrainingError, match="empty"):
        Trainer(tiny("ae"), config=config(), train_x=np.zeros((0, 28, 28), np.float32))


# --------------------------------------------------------------- stopping


def test_should_stop_stops_before_the_next_batch():
    steps: list[int] = []
    model = tiny("ae")
    trainer = Trainer(
        model,
        config=config(),
        train_x=TRAIN_X,
        on_step=lambda s: steps.append(s.step),
        should_stop=lambda: len(steps) >= 3,
    )
    result = trainer.fit()
    assert result.stopped
    assert steps == [1, 2, 3]
    assert result.epochs_done == 0 and result.history == []
    assert not model.training


def test_request_stop_from_a_callback_stops_mid_run():
    steps: list[int] = []
    epochs: list[int] = []
    model = tiny("vae")

    def on_step(info):
        steps.append(info.step)
        if info.step == STEPS_PER_EPOCH + 2:
            trainer.request_stop()

    trainer = Trainer(
        model, config=config(), train_x=TRAIN_X, test_x=TEST_X, on_step=on_step, on_epoch=lambda e: epochs.append(e.epoch)
    )
    result = trainer.fit()
    assert result.stopped
    assert steps == list(range(1, STEPS_PER_EPOCH + 3))
    assert epochs == [1] and result.epochs_done == 1
    # the partly trained model is usable
    with torch.no_grad():
        assert torch.isfinite(model.reconstruct(torch.from_numpy(TEST_X.copy()))).all()
    # A second run on the same Trainer is not stopped by the first run's request.
    trainer.on_step = None
    again = trainer.fit()
    assert not again.stopped and again.epochs_done == config().epochs


def test_keep_every_must_be_a_whole_number_of_steps():
    for bad in (0, -3, 2.5, True):
        with pytest.raises(TrainingError, match="keep_every"):
            TrainConfig(keep_every=bad)


def test_a_stop_before_the_first_batch_leaves_the_weights_alone():
    model = tiny("ae")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = Trainer(model, config=config(), train_x=TRAIN_X, should_stop=lambda: True).fit()
    assert result.stopped and result.epochs_done == 0
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


# ------------------------------------------------------------- divergence


@pytest.mark.parametrize(("lr", "shown"), [(10.0, "(10)"), (1e6, "(1e+06)")])
def test_a_huge_learning_rate_fails_with_an_actionable_message(lr, shown):
    model = tiny("vae")
    steps: list[int] = []
    trainer = Trainer(model, config=config(lr=lr), train_x=TRAIN_X, on_step=lambda s: steps.append(s.step))
    with pytest.raises(NonFiniteLossError, match="learning rate") as info:
        trainer.fit()
    assert shown in str(info.value)
    assert isinstance(info.value, TrainingError)
    assert len(steps) < 4 * STEPS_PER_EPOCH
    # the model falls back to weights that still draw something
    assert all_finite(model)
    with torch.no_grad():
        x = torch.from_numpy(TEST_X.copy())
        assert torch.isfinite(model.reconstruct(x)).all()
        assert torch.isfinite(model.decode(torch.randn(8, 2))).all()


@pytest.mark.parametrize("epochs", [1, 3])
def test_nan_gradients_at_the_end_of_an_epoch_do_not_become_the_fallback(epochs):
    """A finite loss with NaN gradients (an overflow in the backward pass) at the
    last batch of an epoch leaves NaN weights: training must not report success
    or fall back to them."""
    model = tiny("ae")
    backward_calls = [0]

    def poison_last_batch_of_first_epoch(grad):
        backward_calls[0] += 1
        return grad * float("nan") if backward_calls[0] == STEPS_PER_EPOCH else grad

    next(model.parameters()).register_hook(poison_last_batch_of_first_epoch)
    trainer = Trainer(model, config=config(epochs=epochs), train_x=TRAIN_X, test_x=TEST_X)
    with pytest.raises(NonFiniteLossError, match="learning rate"):
        trainer.fit()
    assert all_finite(model)
    with torch.no_grad():
        assert torch.isfinite(model.reconstruct(torch.from_numpy(TEST_X.copy()))).all()


# ------------------------------------------------------------------ seeds


@pytest.mark.parametrize("kind", ["vae", "dae"])
def test_the_same_seed_gives_identical_weights(kind):
    trained = []
    for _ in range(2):
        model = tiny(kind, seed=5)
        Trainer(model, config=config(epochs=2, seed=11), train_x=TRAIN_X).fit()
        trained.append(model.state_dict())
    for k in trained[0]:
        assert torch.equal(trained[0][k], trained[1][k]), k


def test_another_seed_gives_other_weights():
    trained = []
    for seed in (1, 2):
        model = tiny("vae", seed=5)
        Trainer(model, config=config(epochs=1, seed=seed), train_x=TRAIN_X).fit()
        trained.append(model.state_dict())
    assert any(not torch.equal(trained[0][k], trained[1][k]) for k in trained[0])


@pytest.mark.parametrize("kind", KINDS)
def test_training_leaves_the_global_random_state_alone(kind):
    model = tiny(kind, seed=5)
    before = torch.get_rng_state()
    Trainer(model, config=config(epochs=2, seed=3), train_x=TRAIN_X, test_x=TEST_X).fit()
    assert torch.equal(torch.get_rng_state(), before)


@pytest.mark.parametrize("kind", ["vae", "dae"])
def test_the_same_seed_gives_the_same_losses_whatever_the_global_random_state(kind):
    # Another thread drawing from (or seeding) the global RNG must not change a run.
    runs = []
    for global_seed in (100, 200):
        model = tiny(kind, seed=5)
        torch.manual_seed(global_seed)
        steps: list[StepInfo] = []
        result = Trainer(model, config=config(epochs=2, seed=11), train_x=TRAIN_X, test_x=TEST_X,
                         on_step=steps.append).fit()
        runs.append(([s.losses for s in steps], [h.test for h in result.history]))
    assert runs[0] == runs[1]


# ------------------------------------------------------- devices and config


def test_select_device_cpu():
    assert select_device("cpu") == torch.device("cpu")
    assert select_device("CPU") == torch.device("cpu")


def test_select_device_follows_the_environment(monkeypatch):
    monkeypatch.setenv("LATENT_EXPLORER_DEVICE", "cpu")
    assert select_device() == torch.device("cpu")
    monkeypatch.setenv("LATENT_EXPLORER_DEVICE", "banana")
    with pytest.raises(TrainingError, match="unknown device 'banana'"):
        select_device()


def test_an_unknown_device_is_a_training_error():
    with pytest.raises(TrainingError, match=r"unknown device 'tpu'.*cpu"):
        select_device("tpu")
    with pytest.raises(TrainingError):
        Trainer(tiny("ae"), config=config(device="quantum"), train_x=TRAIN_X)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_asking_for_cuda_without_a_gpu_says_so():
    with pytest.raises(TrainingError, match="CUDA"):
        select_device("cuda")


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"epochs": 0}, "epochs"),
        ({"epochs": -2}, "epochs"),
        ({"lr": 0.0}, "learning rate"),
        ({"lr": -1e-3}, "learning rate"),
        ({"lr": float("nan")}, "learning rate"),
        ({"lr": float("inf")}, "learning rate"),
        ({"batch_size": 0}, "batch size"),
        ({"schedule": "step"}, "schedule"),
    ],
)
def test_train_config_refuses_bad_values(fields, words):
    with pytest.raises(TrainingError, match=words):
        TrainConfig(**fields)


# ------------------------------------------------------------ linear = PCA


def plane_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """784-pixel data with a clear 2-D principal subspace: grey + (2-D code) x
    (fixed 784x2 basis) + a little pixel noise."""
    basis = np.random.default_rng(123).normal(size=(784, 2)) * 0.1
    rng = np.random.default_rng(seed)
    codes = rng.normal(size=(n, 2)) * np.array([1.0, 0.8])
    x = 0.3 + codes @ basis.T + 0.05 * rng.normal(size=(n, 784))
    return x.astype(np.float32), basis


def test_linear_autoencoder_spans_the_pca_subspace():
    train_x, basis = plane_images(512, seed=1)
    test_x, _ = plane_images(200, seed=2)
    torch.manual_seed(0)
    model = build_model(NetConfig(kind="linear", latent=2), data_mean=torch.from_numpy(train_x).mean(0))
    pca = metrics.pca_fit(train_x, 2)
    untrained = metrics.principal_angles(model.subspace(), pca.components.T).max()

    Trainer(model, config=config(epochs=30, batch_size=8, lr=3e-3), train_x=train_x).fit()

    angles = metrics.principal_angles(model.subspace(), pca.components.T)
    assert untrained > 45  # a random start is far from it
    assert angles.max() < 2.0
    # and it is as close to the plane the data was made from as PCA is (both see sampling noise)
    pca_to_truth = metrics.principal_angles(pca.components.T, basis).max()
    assert metrics.principal_angles(model.subspace(), basis).max() < pca_to_truth + 0.5
    ae_mse = metrics.reconstruction_mse(model, torch.from_numpy(test_x))
    pca_mse = pca.reconstruction_mse(test_x)
    # PCA is the optimum, so the AE cannot beat it by more than sampling noise
    assert 0.97 * pca_mse < ae_mse < 1.08 * pca_mse
