"""Dynamic binarisation (issue #19's literature protocol): Bernoulli draws of the grey
levels, a new draw every batch while training, the test set drawn once."""
from __future__ import annotations

import torch

from models.data import binarized
from models.nets import NetConfig, build_model
from models.train import TrainConfig, Trainer


def test_binarized_pixels_are_zero_or_one_with_the_grey_level_as_probability():
    x = torch.full((200, 784), 0.3)
    b = binarized(x, seed=0)
    assert set(b.unique().tolist()) <= {0.0, 1.0}
    assert abs(float(b.mean()) - 0.3) < 0.01
    assert torch.equal(b, binarized(x, seed=0)) and not torch.equal(b, binarized(x, seed=1))


def test_a_binarizing_trainer_feeds_the_model_a_new_draw_every_batch():
    # Identical grey images: two batches can differ only by their draws, not by their order.
    x = torch.full((64, 784), 0.5)
    model = build_model(NetConfig(kind="vae", latent=2, hidden=(16,)), seed=0)
    seen = []
    original = model.forward

    def spy(inp, *args, **kwargs):
        seen.append(inp.detach().clone())
        return original(inp, *args, **kwargs)

    model.forward = spy
    trainer = Trainer(model, config=TrainConfig(epochs=2, batch_size=64, binarize=True), train_x=x, test_x=x[:16])
    for _ in trainer.steps():
        pass
    batches = [b for b in seen if b.shape[0] == 64]
    assert len(batches) == 2
    assert all(set(b.unique().tolist()) <= {0.0, 1.0} for b in batches)
    assert not torch.equal(batches[0], batches[1])  # dynamic: the same images, drawn anew
    assert set(trainer.test_x.unique().tolist()) <= {0.0, 1.0}


def test_the_status_bar_says_a_binarised_models_figures_are_on_the_binarised_test_set():
    from explorer.widgets.model_status import figures_text

    assert figures_text({"test": {"nelbo": 134.6}, "train": {"binarize": True}}) == "binarised test −ELBO 134.6"
    assert figures_text({"test": {"nelbo": 137.5}, "train": {"binarize": False}}) == "test −ELBO 137.5"
