"""Writes resources/codes/: the bundled AE's and VAE's codes of each bundled test set,
so the app's first start can plot them before torch is loaded (models.plane.CodeCache
looks there after the user's cache folder). Run it after retraining a bundled model
(scripts/train_bundled.sh does); codes of files that changed simply stop matching.

    python scripts/make_bundled_codes.py
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from explorer.startup import DEFAULT_MODELS  # noqa: E402
from models import data  # noqa: E402
from models.checkpoint import load_checkpoint  # noqa: E402
from models.files import bundled_codes_dir, bundled_models_dir  # noqa: E402
from models.latent_space import LatentSpace  # noqa: E402
from models.plane import CodeCache  # noqa: E402


def main() -> int:
    folder = bundled_codes_dir()
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.npy"):
        old.unlink()
    for dataset in data.BUNDLED_DATASETS:
        images = data.load_bundled(dataset).test_images
        cache = CodeCache(folder, images)
        for _, kind in DEFAULT_MODELS:
            path = bundled_models_dir(dataset) / f"{kind}.pt"
            if not path.is_file():
                continue
            ckpt = load_checkpoint(path, expect_kind=kind)
            LatentSpace(ckpt.model, images, cache=cache, key=ckpt.digest)  # encodes and saves
            print(f"{dataset} {kind}: {cache.path_for(ckpt.digest).name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
