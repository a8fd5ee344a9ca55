"""The model kinds and what they are called: no torch, so the window can name a
model (in a plot title, say) before torch is imported."""
from __future__ import annotations

KINDS = ("ae", "vae", "dae", "linear")

KIND_TITLES = {
    "ae": "Autoencoder",
    "vae": "Variational autoencoder",
    "dae": "Denoising autoencoder",
    "linear": "Linear autoencoder",
}
