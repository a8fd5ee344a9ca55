"""Conv VAE against an MLP VAE of about the same parameter count on Fashion-MNIST
padded to 32 x 32 (2 black pixels on every side), latent 16: both trained with the
same models.train.Trainer settings, both scored on the full test set with
models.metrics (-ELBO, per-pixel MSE of the posterior-mean reconstruction, bits per
dimension). Prints one JSON object; docs/benchmarks.md has the figures.

    python scripts/compare_conv_mlp.py --data ../shared/data --epochs 10 --threads 1
    python scripts/compare_conv_mlp.py --time-only        # one epoch's time per model

The MLP's hidden sizes are chosen here (two layers, the second half the first) as
the smallest whose parameter count reaches the conv model's.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models import data, metrics  # noqa: E402
from models.nets import NetConfig, build_model  # noqa: E402
from models.train import TrainConfig, Trainer  # noqa: E402

PAD = 2


def padded(images: np.ndarray) -> np.ndarray:
    return np.pad(images, ((0, 0), (PAD, PAD), (PAD, PAD)))


def parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def matched_mlp(target: int, *, latent: int, side: int) -> NetConfig:
    """The smallest two-layer MLP VAE (h, h // 2) with at least ``target`` parameters."""
    for h in range(16, 4096, 2):
        config = NetConfig(kind="vae", image_shape=(side, side), latent=latent, hidden=(h, h // 2))
        with torch.device("meta"):
            if parameters(build_model(config)) >= target:
                return config
    raise ValueError(f"no MLP up to 4096 units reaches {target} parameters")


def score(model, test_x: torch.Tensor, pixels: int) -> dict[str, float]:
    elbo = metrics.negative_elbo(model, test_x, seed=0)
    return {
        **{k: round(v, 3) for k, v in elbo.items()},
        "mse": round(metrics.reconstruction_mse(model, test_x), 6),
        "bits_per_dim": round(metrics.bits_per_dim(elbo["nelbo"], pixels), 4),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="../shared/data", help="folder holding fashion-mnist/")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--latent", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--train-limit", type=int, default=None, help="use only the first N training images")
    p.add_argument("--only", choices=("conv", "mlp"), default=None, help="train one of the two")
    p.add_argument("--time-only", action="store_true", help="time 20 batches of each model and stop")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)

    ds = data.load_dataset("fashion-mnist", data_dir=args.data)
    train = padded(ds.train_images[: args.train_limit])
    test = padded(ds.test_images)
    side = train.shape[1]
    conv_config = NetConfig(kind="vae", arch="conv", image_shape=(side, side), latent=args.latent,
                            hidden=(32, 64, 128))
    with torch.device("meta"):
        target = parameters(build_model(conv_config))
    configs = {"conv": conv_config, "mlp": matched_mlp(target, latent=args.latent, side=side)}
    train_x = data.as_float_images(train)
    test_x = data.as_float_images(test)
    mean = train_x.mean(dim=0)
    out: dict = {"dataset": "fashion-mnist padded to 32x32", "train_images": len(train), "test_images": len(test),
                 "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "latent": args.latent,
                 "threads": args.threads, "seed": args.seed, "torch": torch.__version__, "models": {}}
    for name, config in configs.items():
        if args.only and name != args.only:
            continue
        model = build_model(config, data_mean=mean, seed=args.seed)
        entry: dict = {"hidden": list(config.hidden), "parameters": parameters(model)}
        if args.time_only:
            steps = 20
            cfg = TrainConfig(epochs=1, batch_size=args.batch_size, lr=args.lr, seed=args.seed, device="cpu")
            trainer = Trainer(model, config=cfg, train_x=train_x[: steps * args.batch_size])
            t0 = time.perf_counter()
            trainer.fit()
            per_batch = (time.perf_counter() - t0) / steps
            entry["seconds_per_epoch_estimate"] = round(per_batch * len(train) / args.batch_size, 1)
        else:
            cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed, device="cpu")
            trainer = Trainer(model, config=cfg, train_x=train_x, eval_share=0.05, test_x=test_x[:1000],
                              on_epoch=lambda e, n=name: print(f"{n} epoch {e.epoch}/{e.epochs} {e.seconds:.0f}s "
                                                               f"train {e.train.get('loss', 0):.2f}", file=sys.stderr,
                                                               flush=True))
            t0 = time.perf_counter()
            trainer.fit()
            entry["train_seconds"] = round(time.perf_counter() - t0, 1)
            entry["test"] = score(model, test_x, config.pixels)
        out["models"][name] = entry
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
