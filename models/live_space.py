"""LiveSpace: a latent space drawn from a training run's snapshot (codes of the probe
images and a copy of the decoder's weights), so the GUI can decode under the mouse
while the model itself trains in another process."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from models import metrics
from models.jobs import ModelSnapshot
from models.latent_space import LatentSpace
from models.nets import Model, NetConfig, build_model


def decoder_only_model(config: NetConfig, decoder_state: dict[str, np.ndarray]) -> Model:
    """A fresh network of ``config`` whose decoder holds a snapshot's weights (the encoder is unused)."""
    model = build_model(config)
    state = {k: torch.as_tensor(v) for k, v in decoder_state.items()}
    model.load_state_dict(state, strict=False)
    return model.eval()


class LiveSpace(LatentSpace):
    """A latent space from codes sent by the training process; the decoder is only
    built when something is decoded (a drag), from that snapshot's weights."""

    def __init__(self, config: NetConfig, snapshot: ModelSnapshot, *, previous: LatentSpace | None = None):
        self._config = config
        self._decoder_state = snapshot.decoder_state
        self._decoder_model: Model | None = None
        self.images = None
        self.codes = np.asarray(snapshot.probe_codes, dtype=np.float64)
        self.latent = int(snapshot.latent)
        if self.latent == 2:
            self._pca = None
            self.xy = self.codes.astype(np.float32)
        else:
            pca = metrics.pca_fit(self.codes, min(2, self.latent))
            old = getattr(previous, "_pca", None)
            if old is not None and old.components.shape == pca.components.shape:
                # A principal axis has no sign; keep the previous frame's, or the plot
                # would flip back and forth between redraws.
                signs = np.where(np.sum(pca.components * old.components, axis=1) < 0, -1.0, 1.0)
                pca = replace(pca, components=pca.components * signs[:, None])
            self._pca = pca
            xy = self._pca.transform(self.codes)
            if xy.shape[1] == 1:
                xy = np.hstack([xy, np.zeros_like(xy)])
            self.xy = xy.astype(np.float32)

    @property
    def model(self) -> Model:
        if self._decoder_model is None:
            self._decoder_model = decoder_only_model(self._config, self._decoder_state)
        return self._decoder_model
