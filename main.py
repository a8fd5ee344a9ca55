"""Latent Explorer: start the GUI, or train / evaluate models from the command line.

    python main.py                      start the app
    python main.py train --model vae    train a model and save a checkpoint
    python main.py eval [CKPT ...]      evaluate checkpoints (default: the bundled ones)
    python main.py codes CKPT --out F   the test images' codes under one model, as CSV
    python main.py --images DIR|FILE    open the app on images you bring (train / eval take it too)
    torchrun --nproc_per_node N main.py train ...   train on N GPUs (DistributedDataParallel)
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

# models.sources.REGISTERED, spelled out so the parser does not import numpy and Pillow.
DATASET_NAMES = ("mnist", "fashion-mnist", "kmnist", "cifar10")
FITS = ("pad", "crop")


class CliError(Exception):
    """A problem the user can fix; printed without a traceback."""


class _Parser(argparse.ArgumentParser):
    """argparse with the CLI's one error format: one ``error: ...`` line, exit code 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


DEVICE_PATTERN = r"auto|cpu|mps|cuda(:\d+)?"
# torch.manual_seed takes any unsigned 64-bit number; a job adds the model's index.
MAX_SEED = 2**63 - 1


def _add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", choices=DATASET_NAMES, default=None, help="dataset (default: mnist, or the checkpoint's)")
    p.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="folder holding the four IDX files (gz or raw), or a cache root; "
        "default: $LATENT_EXPLORER_DATA or the user data folder",
    )


def _add_image_args(p: argparse.ArgumentParser, *, options: bool = True) -> None:
    p.add_argument("--images", type=Path, default=None, metavar="DIR|FILE",
                   help="images you bring instead of --dataset: a folder (one sub-folder per class, or flat), "
                   "a label,pixel0,... CSV, or a .npz (x, y) / .npy file")
    if not options:
        return
    p.add_argument("--size", type=int, default=None, metavar="N",
                   help="pixels square: a folder's images are converted to 28 (default), 32 or 64; "
                   "a registered dataset is padded to it (e.g. 32 for --arch conv)")
    colour = p.add_mutually_exclusive_group()
    colour.add_argument("--colour", "--color", dest="colour", action="store_const", const=True, default=None,
                        help="keep the images' colour (default for a folder of colour images)")
    colour.add_argument("--grey", "--gray", dest="colour", action="store_const", const=False,
                        help="turn the images to grey (luminance)")
    p.add_argument("--fit", choices=FITS, default=None,
                   help="how a folder's images become square: pad (default, the whole image) or crop (the centre)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="latent-explorer",
        description="See what an autoencoder learns: AE and VAE latent spaces, decoded live.",
        epilog="Run without a sub-command to start the app.",
    )
    parser.add_argument("--screenshot", type=Path, metavar="PATH", help="start offscreen, save a PNG of the window and exit")
    parser.add_argument("--panel", default=None,
                        help="panel to show first: explore, train, draw, denoise, inpaint or lab")
    parser.add_argument("--dataset", choices=DATASET_NAMES, default=None,
                        help="dataset to show in every panel (default: the last one shown, else mnist)")
    parser.add_argument("--data-dir", type=Path, default=None, help="dataset folder (see the README)")
    _add_image_args(parser)
    parser.add_argument("--train-for", type=float, default=None, metavar="SECONDS",
                        help="with --screenshot: start a default training run, let it run this long, then take the picture")
    parser.add_argument("--mirror", metavar="URL", default=None,
                        help="a local dataset mirror tried before the public ones (default: $LATENT_EXPLORER_MIRROR)")
    parser.add_argument("--lesson", action="store_true",
                        help="open the guided lesson beside the panels, at the step last shown (Help › Lesson, F1)")
    parser.add_argument("--lesson-step", type=int, default=None, metavar="N", help="open the lesson at step N (from 1)")
    parser.add_argument("--lesson-file", type=Path, default=None, metavar="PATH",
                        help="a lesson of your own (a copy of resources/lesson/lesson.json, edited or translated)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    t = sub.add_parser("train", help="train a model and save a checkpoint", description="Train one model and save a checkpoint.")
    t.add_argument("--model", choices=("ae", "vae", "dae", "linear"), required=True, help="model kind")
    t.add_argument("--arch", choices=("mlp", "conv"), default="mlp",
                   help="mlp (default) or conv: convolutional, for 28, 32 or 64 pixel images (grey or colour)")
    _add_data_args(t)
    _add_image_args(t)
    t.add_argument("--latent", type=int, default=2, help="latent size (default 2)")
    t.add_argument("--hidden", type=int, nargs="*", default=None, help="hidden layer sizes (default 512 256; --arch conv: channel widths, default 32 64 128 at 32 px, 32 64 128 256 at 64 px)")
    t.add_argument("--epochs", type=int, default=20)
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (cosine-decayed)")
    t.add_argument("--schedule", choices=("cosine", "constant"), default="cosine")
    t.add_argument("--binarize", action="store_true",
                   help="dynamically binarised pixels (a new Bernoulli draw of every batch), the standard protocol for likelihoods")
    t.add_argument("--augment", type=float, default=0.0, metavar="SHARE",
                   help="writer augmentation (28 x 28 digits): this share of every batch is seen as another writer and "
                   "scanner would have made it, the loss still asks for the original (default 0: off)")
    t.add_argument("--augment-copies", type=int, default=2, metavar="N",
                   help="with --augment: distorted copies of the training set made before the first step (default 2)")
    t.add_argument("--invariance", type=float, default=0.0, metavar="WEIGHT",
                   help="with --augment: weight of a term that asks each distorted digit's code to lie nearest its own "
                   "original's among the batch's (nearest-code cross-entropy, in the loss's units; default 0: off)")
    t.add_argument("--neighbours", type=float, default=0.0, metavar="WEIGHT",
                   help="weight of a term that asks each image's code to lie nearest the code of one of its 10 "
                   "nearest training images in pixel space (keeps classes apart in a 2-D plane; default 0: off)")
    t.add_argument("--freeze-decoder", action="store_true",
                   help="with --init: train the encoder alone and keep the decoder's weights (a VAE's likelihood "
                   "stays as it was; e.g. with --augment, teach only the encoder other writers' digits)")
    t.add_argument("--beta", type=float, default=1.0, help="VAE: weight of the KL term")
    t.add_argument("--likelihood", choices=("bernoulli", "gaussian"), default="bernoulli", help="VAE decoder likelihood")
    t.add_argument("--loss", choices=("mse", "l1", "bce", "cosine"), default="mse", help="AE reconstruction loss")
    # Checked against models.corrupt.CORRUPTIONS in validate_train: listing them here
    # would import torch for every command, the app's start included.
    t.add_argument("--noise", default="gaussian", metavar="KIND",
                   help="DAE: the corruption applied to training inputs, one of models.corrupt.CORRUPTIONS "
                   "(gaussian, salt_and_pepper, masking, blur, downsample, ...; a wrong name lists them all)")
    t.add_argument("--noise-level", type=float, default=None,
                   help="DAE: corruption level (sigma, fraction or factor; default: the corruption's own default)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, mps")
    t.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    t.add_argument("--download", action="store_true", help="download the dataset if it is not on disk")
    t.add_argument("--mirror", metavar="URL", default=None,
                   help="with --download: a local mirror (URL/<dataset>/<file>) tried before the public ones "
                   "(default: $LATENT_EXPLORER_MIRROR)")
    t.add_argument("--bundled", action="store_true", help="train on the bundled 10,000 MNIST test images (no download)")
    t.add_argument("--init", type=Path, default=None, metavar="CHECKPOINT",
                   help="start from this checkpoint's weights (same kind, sizes and images) instead of fresh ones")
    t.add_argument("--out", type=Path, required=True, help="checkpoint file to write")

    e = sub.add_parser("eval", help="evaluate checkpoints on a test set", description="Evaluate checkpoints (default: the bundled ones).")
    e.add_argument("checkpoints", nargs="*", type=Path, help="checkpoint files (default: the bundled MNIST models)")
    _add_data_args(e)
    _add_image_args(e, options=False)
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.add_argument("--iwae-k", type=int, default=1000, metavar="K",
                   help="importance samples for the VAE's -log p(x) bound, vae.iwae_nll (default 1000, about 4 minutes "
                   "for 10,000 images on one CPU core with an MLP decoder, over ten times that with a conv one; "
                   "0 skips it)")
    c = sub.add_parser("codes", help="write the test images' codes under one model as CSV",
                       description="Write the codes of a dataset's test images under one model as CSV: a header "
                       "index,label,z1,z2,... and one row per image (a VAE's codes are its encoder's means).")
    c.add_argument("checkpoint", type=Path, help="checkpoint file (.pt)")
    _add_data_args(c)
    _add_image_args(c, options=False)
    c.add_argument("--bundled", action="store_true", help="use the 10,000 test images that ship with the app (no download)")
    c.add_argument("--out", type=Path, required=True, metavar="FILE.csv", help="CSV file to write")
    b = sub.add_parser("bench", help="measure training, dragging, redrawing and start-up speed",
                       description="Measure speed as ratios against plain PyTorch in the same process.")
    b.add_argument("--json", action="store_true", help="print one JSON object (keys nested as name.p50)")
    b.add_argument("--quick", action="store_true", help="a short run (under a minute)")
    b.add_argument("--data-dir", type=Path, default=None,
                   help="MNIST folder whose 60,000 training images the training figures use "
                   "(default: the dataset cache, else the bundled 10,000 test images)")
    lab = sub.add_parser("lab", help="the concept lab's experiments, printed", description="The concept lab from the command line.")
    lab_sub = lab.add_subparsers(dest="experiment", metavar="EXPERIMENT", required=True)
    ll = lab_sub.add_parser("losses", help="MSE, L1 and cosine similarity of two vectors",
                            description="MSE, L1 and cosine similarity between x and x-hat (e.g. --x 3 4 --xhat -4 -3).")
    ll.add_argument("--x", type=float, nargs="+", required=True, metavar="V", help="the target vector x")
    ll.add_argument("--xhat", type=float, nargs="+", required=True, metavar="V", help="the reconstruction x-hat (same length)")
    ll.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


# ---------------------------------------------------------------- helpers


class _ProgressBar:
    """A one-line text progress bar on stderr."""

    def __init__(self, total: int, *, enabled: bool):
        self.total = total
        self.enabled = enabled
        self._last = 0.0

    def update(self, done: int, text: str) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self._last < 0.2 and done < self.total):
            return
        self._last = now
        width = 30
        filled = int(width * done / max(1, self.total))
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} {text}   ")
        sys.stderr.flush()

    def clear(self) -> None:
        if self.enabled:
            sys.stderr.write("\r" + " " * 100 + "\r")
            sys.stderr.flush()


def _title(name: str) -> str:
    from models import data

    return data.DATASETS[name].title if name in data.DATASETS else {"cifar10": "CIFAR-10"}.get(name, name)


def _load_data(name: str, data_dir: Path | None, *, download: bool = False, bundled: bool = False, mirror: str | None = None,
               size: int | None = None):
    """A registered dataset (models.sources.load_registered), padded to ``size`` pixels."""
    from models import data, sources

    try:
        ds = sources.load_registered(name, data_dir=data_dir, download=download, bundled=bundled, mirror=mirror,
                                     progress=_download_progress)
        return sources.resized(ds, size)
    except sources.SourceError as exc:
        raise CliError(str(exc)) from exc
    except data.DatasetNotFoundError as exc:
        hint = (f" Or pass --bundled to use the bundled 10,000 {_title(name)} test images."
                if name in data.BUNDLED_DATASETS else "")
        raise CliError(f"{exc}{hint}") from exc
    except data.DataError as exc:
        raise CliError(str(exc)) from exc


def _download_progress(p) -> None:
    total = f"/{p.total_bytes / 1e6:.1f}" if p.total_bytes else ""
    sys.stderr.write(f"\rdownloading {p.filename} ({p.file_index + 1}/{p.file_count}): {p.done_bytes / 1e6:.1f}{total} MB   ")
    sys.stderr.flush()


def _fmt(d: dict[str, float]) -> str:
    return "  ".join(f"{k} {v:.4g}" for k, v in d.items())


# ---------------------------------------------------------------- validation
# Every argument is checked before any data is read or any work starts, so a typo
# costs nothing and always reads as one `error:` line.


def _at_least(value: int | None, low: int, flag: str) -> None:
    if value is not None and value < low:
        raise CliError(f"{flag} must be at least {low}, got {value}")


def _positive_number(value: float, flag: str) -> None:
    if not (math.isfinite(value) and value > 0):
        raise CliError(f"{flag} must be a positive number, got {value:g}")


def _folder_arg(path: Path | None, flag: str, *, may_be_missing: bool = False) -> None:
    if path is None:
        return
    if path.exists() and not path.is_dir():
        raise CliError(f"{flag} {path} is a file; give the folder that holds the dataset's files")
    if not path.exists() and not may_be_missing:
        raise CliError(f"{flag} {path}: no such folder")


def _mirror_arg(url: str | None) -> None:
    from models import data

    try:
        data.local_mirror(url)  # checks the argument, else $LATENT_EXPLORER_MIRROR
    except data.DataError as exc:
        raise CliError(str(exc)) from exc


def _writable(path: Path, flag: str, *, what: str) -> None:
    from models import files

    try:
        files.check_writable_file(path, what=what)
    except files.NotWritableError as exc:
        raise CliError(f"{flag}: {exc}") from exc


def _images_arg(args: argparse.Namespace, *, options: bool = True) -> None:
    """Check --images cheaply (models.sources.inspect_images) and settle its options:
    ``args.source`` is the ImageSource, or None without --images. --images and a
    registered dataset's own flags exclude each other."""
    args.source = None
    if args.images is None:
        if options and args.fit is not None:
            raise CliError("--fit is how an --images folder's images become square; add --images DIR")
        return
    # Only now: the app's plain start does not need Pillow before its window.
    from models import sources

    if args.dataset is not None:
        raise CliError("--images and --dataset each name the images; give one of them")
    for flag, value in (("--bundled", getattr(args, "bundled", False)), ("--download", getattr(args, "download", False)),
                        ("--data-dir", args.data_dir), ("--mirror", getattr(args, "mirror", None) if args.command else None)):
        if value:
            raise CliError(f"--images reads the images you bring; leave out {flag}")
    if not options:
        return  # eval and codes read them the way the checkpoint's images were read
    try:
        args.source = sources.inspect_images(args.images, size=args.size, colour=args.colour, fit=args.fit)
    except sources.SourceError as exc:
        raise CliError(f"--images {exc}") from exc


def _registered_size(args: argparse.Namespace, name: str) -> tuple[int, bool]:
    """(side, colour) of a registered dataset as --size and --colour / --grey ask for it."""
    from models import sources

    colour = name == "cifar10"
    side = 32 if colour else 28
    if args.size is not None and (args.size < side or args.size not in sources.SIZES):
        raise CliError(f"--size: {name}'s {side} x {side} images can be padded to "
                       f"{' or '.join(str(v) for v in sources.SIZES if v > side)} pixels, not {args.size}")
    if args.colour and not colour:
        raise CliError(f"--colour: {name}'s images are grey")
    return args.size or side, colour if args.colour is None else args.colour


def validate_train(args: argparse.Namespace) -> None:
    import re

    from models import data

    # The checks that need no torch come first, so that most mistakes are named at once
    # (importing torch takes seconds); the model, noise and device checks follow.
    _images_arg(args)
    name = args.dataset or "mnist"
    side, colour = (args.source.size, args.source.colour) if args.source is not None else _registered_size(args, name)
    _at_least(args.latent, 1, "--latent")
    for size in args.hidden or ():
        _at_least(size, 1, "--hidden sizes")
    _at_least(args.epochs, 1, "--epochs")
    _at_least(args.batch_size, 1, "--batch-size")
    _positive_number(args.lr, "--lr")
    if not (math.isfinite(args.beta) and args.beta >= 0):
        raise CliError(f"--beta must be a number >= 0, got {args.beta:g}")
    if not (math.isfinite(args.augment) and 0 <= args.augment <= 1):
        raise CliError(f"--augment is a share of each batch between 0 and 1, got {args.augment:g}")
    _at_least(args.augment_copies, 1, "--augment-copies")
    if not (math.isfinite(args.invariance) and args.invariance >= 0):
        raise CliError(f"--invariance must be a number >= 0, got {args.invariance:g}")
    if args.invariance > 0 and args.augment == 0:
        raise CliError("--invariance pairs distorted digits with their originals: add --augment SHARE")
    if not (math.isfinite(args.neighbours) and args.neighbours >= 0):
        raise CliError(f"--neighbours must be a number >= 0, got {args.neighbours:g}")
    if not 0 <= args.seed <= MAX_SEED:
        raise CliError(f"--seed must be between 0 and {MAX_SEED}, got {args.seed}")
    _at_least(args.threads, 1, "--threads")
    if not re.fullmatch(DEVICE_PATTERN, args.device.lower()):
        raise CliError(f"unknown --device {args.device!r}: use auto, cpu, cuda, cuda:N or mps")
    if args.bundled:
        if args.data_dir is not None or args.download:
            raise CliError("--bundled trains on the images that ship with the app; leave out --data-dir and --download")
        if name not in data.BUNDLED_DATASETS:
            raise CliError(f"only {' and '.join(data.DATASETS[n].title for n in data.BUNDLED_DATASETS)} ship with the app; "
                           f"{_title(name)} needs --download or --data-dir")
    _folder_arg(args.data_dir, "--data-dir", may_be_missing=args.download)
    if args.mirror is not None and not args.download:
        raise CliError("--mirror is where --download fetches from; add --download")
    _mirror_arg(args.mirror)
    _writable(args.out, "--out", what="the checkpoint")
    if args.freeze_decoder and args.init is None:
        raise CliError("--freeze-decoder keeps a trained decoder: add --init CHECKPOINT to say whose")

    import numpy as np

    from models import corrupt, distributed
    from models.train import TrainingError, select_device

    for flag, weight in (("--invariance", args.invariance), ("--neighbours", args.neighbours)):
        if weight > 0 and distributed.requested():
            raise CliError(f"{flag} runs in one process only; start the run without torchrun")

    _architecture(args.arch, side, colour)
    if args.noise not in corrupt.CORRUPTIONS:
        raise CliError(f"unknown --noise {args.noise!r}: choose one of {', '.join(corrupt.CORRUPTIONS)}")
    if args.model == "dae" and corrupt.CORRUPTIONS[args.noise].colour_only and not colour:
        raise CliError(f"--noise {args.noise} takes the colour away, and these images are grey, so it would change "
                       "nothing; use it on colour images (--images with colour, or --dataset cifar10)")
    if args.noise_level is not None:
        try:
            corrupt.corrupt(np.zeros((1, 784), dtype=np.float32), args.noise, args.noise_level, seed=0)
        except ValueError as exc:
            raise CliError(f"--noise-level: {exc}") from exc
    try:
        select_device(args.device)
    except TrainingError as exc:
        raise CliError(str(exc)) from exc
    if args.init is not None:
        _init_checkpoint(args)


def _architecture(arch: str, side: int, colour: bool) -> None:
    """--arch and the images' size and colour: what this version's models can take."""
    from models.nets import NetConfig

    fields = NetConfig.__dataclass_fields__
    if arch == "conv":
        if "arch" not in fields:
            raise CliError("--arch conv: this version has no convolutional models yet; leave out --arch")
        from models.kinds import CONV_SIDES, conv_sides_text

        if side not in CONV_SIDES:
            sides = conv_sides_text()
            raise CliError(f"--arch conv takes {sides} pixel images, these are {side} x {side}; add --size 32 or --size 64")
    if colour and "channels" not in fields:
        raise CliError("colour images need colour models, which this version lacks; add --grey")


def _init_checkpoint(args: argparse.Namespace):
    """The checkpoint --init starts from, refused unless the model asked for has its shape."""
    from models import checkpoint

    try:
        ck = checkpoint.load_checkpoint(args.init)
    except checkpoint.CheckpointError as exc:
        raise CliError(f"--init: {exc}") from exc
    c = ck.config
    asked = {"kind": args.model, "latent": args.latent}
    have = {"kind": c.kind, "latent": c.latent}
    for key, value in asked.items():
        if value != have[key]:
            raise CliError(f"--init: {args.init} holds a {c.title.lower()} with {key} {have[key]}, not {value}")
    return ck


def validate_eval(args: argparse.Namespace) -> None:
    _images_arg(args, options=False)
    _at_least(args.iwae_k, 0, "--iwae-k")
    for path in args.checkpoints:
        if not path.is_file():
            raise CliError(f"{path}: {'is a folder, not a checkpoint file' if path.is_dir() else 'no such file'}")
    _folder_arg(args.data_dir, "--data-dir")


def validate_codes(args: argparse.Namespace) -> None:
    from models import data
    from models.codes_csv import check_target
    from models.manifold import ExportError

    path = args.checkpoint
    if not path.is_file():
        raise CliError(f"{path}: {'is a folder, not a checkpoint file' if path.is_dir() else 'no such file'}")
    _images_arg(args, options=False)
    if args.bundled:
        if args.data_dir is not None:
            raise CliError("--bundled uses the test images that ship with the app; leave out --data-dir")
        if args.dataset is not None and args.dataset not in data.BUNDLED_DATASETS:
            raise CliError(f"only {' and '.join(data.DATASETS[n].title for n in data.BUNDLED_DATASETS)} ship with the app; "
                           f"{_title(args.dataset)} needs --data-dir")
    _folder_arg(args.data_dir, "--data-dir")
    try:
        check_target(args.out)
    except ExportError as exc:
        raise CliError(f"--out: {exc}") from exc


def validate_app(args: argparse.Namespace) -> None:
    """Check the app's arguments before any window. With --images the app receives, on
    ``args`` (explorer/app.py's ``run_app(args)``): ``images`` the path (a Path, ``~``
    expanded), ``size`` (int, pixels square), ``colour`` (bool), ``fit`` ("pad" or
    "crop"; a folder's, else "pad") all settled, and ``source`` the same as a
    models.sources.ImageSource, for ``models.sources.read_images(args.source, ...)``.
    Without --images, ``images`` and ``source`` are None and the others untouched."""
    _images_arg(args)
    if args.source is not None:
        args.images, args.size, args.colour, args.fit = args.source.path, args.source.size, args.source.colour, args.source.fit
    _folder_arg(args.data_dir, "--data-dir", may_be_missing=True)
    if args.train_for is not None:
        if args.screenshot is None:
            raise CliError("--train-for only works with --screenshot PATH")
        if not (math.isfinite(args.train_for) and args.train_for >= 0):
            raise CliError(f"--train-for must be a number of seconds >= 0, got {args.train_for:g}")
    if args.screenshot is not None:
        _writable(args.screenshot, "--screenshot", what="the screenshot")
    _mirror_arg(args.mirror)
    _lesson_args(args)


def _lesson_args(args: argparse.Namespace) -> None:
    """--lesson-step and --lesson-file open the lesson too; the file is read and checked here."""
    args.lesson = args.lesson or args.lesson_step is not None or args.lesson_file is not None
    if not args.lesson:
        return
    if args.panel is not None or args.train_for is not None:
        raise CliError(f"the lesson opens each step's own panel; leave out {'--panel' if args.panel else '--train-for'}")
    from explorer.lesson.steps import LessonError, load_lesson

    try:
        lesson = load_lesson(args.lesson_file)
    except LessonError as exc:
        raise CliError(f"--lesson-file: {exc}" if args.lesson_file is not None else f"the bundled lesson: {exc}") from exc
    if args.lesson_step is not None and not 1 <= args.lesson_step <= len(lesson):
        raise CliError(f"--lesson-step must be between 1 and {len(lesson)} (the lesson's steps), got {args.lesson_step}")


def validate(args: argparse.Namespace) -> None:
    """Check every argument of the chosen command; CliError names the first bad one."""
    if args.command == "train":
        validate_train(args)
    elif args.command == "eval":
        validate_eval(args)
    elif args.command == "codes":
        validate_codes(args)
    elif args.command == "bench":
        _folder_arg(args.data_dir, "--data-dir")
    elif args.command is None:
        validate_app(args)


# ---------------------------------------------------------------- commands


def _read_user_images(source, *, quiet: bool = False):
    """The images ``source`` names as a Dataset; a folder's conversion shows a progress
    line on a terminal, and skipped files are summed up in one warning."""
    from models import sources
    from models.user_images import UserImagesError

    bar = _ProgressBar(source.files, enabled=sys.stderr.isatty() and source.format == "folder" and not quiet)
    try:
        opened = sources.read_images(source, progress=lambda done, total: bar.update(done, "images converted"))
    except UserImagesError as exc:
        raise CliError(str(exc)) from exc
    finally:
        bar.clear()
    if opened.summary and not quiet:
        print(f"warning: {source.path}: {opened.summary}", file=sys.stderr)
    return opened.dataset


def _training_data(args: argparse.Namespace, *, quiet: bool = False):
    if args.source is not None:
        return _read_user_images(args.source, quiet=quiet)
    from models import sources

    ds = _load_data(args.dataset or "mnist", args.data_dir, download=args.download, bundled=args.bundled,
                    mirror=args.mirror, size=args.size)
    return sources.greyed(ds) if args.colour is False else ds


def _net_config(args: argparse.Namespace, ds, noise_level: float):
    """The NetConfig for ``args`` and the data's size and colour (hidden: the
    architecture's default for that size unless --hidden)."""
    from models.nets import NetConfig, default_hidden

    side = int(ds.train_images.shape[1])
    options: dict = {"hidden": tuple(args.hidden) if args.hidden is not None else default_hidden(args.arch, (side, side))}
    if ds.train_images.ndim == 4:
        options["channels"] = int(ds.train_images.shape[3])
    if args.arch != "mlp":
        options["arch"] = args.arch
    return NetConfig(kind=args.model, image_shape=(side, side), latent=args.latent, likelihood=args.likelihood,
                     beta=args.beta, loss=args.loss, noise=args.noise, noise_level=noise_level, **options)


def cmd_train(args: argparse.Namespace) -> int:
    import torch

    from models import distributed

    if args.threads:
        torch.set_num_threads(args.threads)
    group = None
    if distributed.requested():
        from models.train import select_device

        try:
            group = distributed.start_group(select_device(args.device))
        except distributed.DistributedError as exc:
            raise CliError(str(exc)) from exc
    try:
        return _train(args, group)
    except RuntimeError as exc:
        if group is None or not distributed.lost_peer(exc):
            raise
        # Exit at once rather than wait in a collective the others will never join.
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"error: rank {group.rank} of {group.world_size} stopped: another process failed or stopped "
              f"answering ({reason}); see its own output", file=sys.stderr)
        return 1
    finally:
        if group is not None:
            group.close()


def _train(args: argparse.Namespace, group) -> int:
    from models import checkpoint, corrupt, distributed, sources
    from models.data import as_float_images
    from models.nets import ConfigError, build_model
    from models.train import NonFiniteLossError, TrainConfig, Trainer, TrainingError, divergence_warning, run_meta

    main_rank = group is None or group.is_main
    say = print if main_rank else (lambda *a, **k: None)
    # Each machine's first process downloads or converts the data; the others then read its cache.
    first_on_node = group is None or group.local_rank == 0
    if group is not None and not first_on_node:
        group.barrier()
    ds = _training_data(args, quiet=not main_rank)
    if group is not None and first_on_node:
        group.barrier()
    noise_level = corrupt.CORRUPTIONS[args.noise].default_level if args.noise_level is None else args.noise_level
    try:
        config = _net_config(args, ds, noise_level)
        tconfig = TrainConfig(
            epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
            device=args.device if group is None else str(group.device), schedule=args.schedule,
            binarize=args.binarize, augment=args.augment, augment_copies=args.augment_copies,
            freeze_decoder=args.freeze_decoder, invariance=args.invariance, neighbours=args.neighbours,
        )
    except (ConfigError, TrainingError) as exc:
        raise CliError(str(exc)) from exc
    model = build_model(config, data_mean=as_float_images(ds.train_images).mean(dim=0), seed=args.seed)
    if args.init is not None:
        start = _init_checkpoint(args)
        if start.config.pixels != config.pixels or start.config.hidden != config.hidden:
            raise CliError(f"--init: {args.init} has hidden layers {list(start.config.hidden)} on {start.config.pixels} values "
                           f"an image; this run builds {list(config.hidden)} on {config.pixels}")
        model.load_state_dict(start.model.state_dict())
    description = sources.describe(ds)
    colour = "colour" if description["colour"] else "grey"
    say(f"training {config.title.lower()} (latent {config.latent}, hidden {list(config.hidden)}) "
        f"on {ds.title} ({description['size']} x {description['size']} {colour}): {len(ds.train_images)} training images, "
        f"{len(ds.test_images)} test images ({ds.source})")
    if group is not None:
        say(f"{group.world_size} processes ({group.backend}), each on its own 1/{group.world_size} of every epoch, "
            f"{args.batch_size} images a batch each")
    steps = math.ceil(len(ds.train_images) / (args.batch_size * (1 if group is None else group.world_size)))
    bar = _ProgressBar(steps * args.epochs, enabled=sys.stderr.isatty() and main_rank)
    trace_dir = os.environ.get(distributed.TRACE_ENV, "").strip()
    trained: list = []
    seen = [0]

    def on_step(info) -> None:
        seen[0] = info.samples
        if trace_dir and trainer.last_batch is not None:
            trained.append(trainer.last_batch.cpu())
        bar.update(info.step, f"epoch {info.epoch + 1}  loss {info.losses['loss']:.4g}  {info.samples_per_s:,.0f} samples/s")

    def on_epoch(info) -> None:
        bar.clear()
        say(f"epoch {info.epoch}/{info.epochs} ({info.seconds:.1f} s)  train: {_fmt(info.train)}  test: {_fmt(info.test)}", flush=True)

    def on_prepare(done: int, total: int) -> None:
        if done == total:
            say(f"made {args.augment_copies} distorted copies of the training set for writer augmentation", flush=True)

    try:
        # Only rank 0 reports, so only it spends time on the test figures.
        trainer = Trainer(model, config=tconfig, train_x=ds.train_images, test_x=ds.test_images if main_rank else None,
                          on_step=on_step, on_epoch=on_epoch, on_prepare=on_prepare, group=group)
    except TrainingError as exc:
        raise CliError(str(exc)) from exc
    say(f"device: {trainer.device}")
    common = dict(dataset=ds.name, source=ds.source, config=tconfig, description=description,
                  command="main.py " + " ".join(sys.argv[1:]))
    try:
        result = trainer.fit()
    except NonFiniteLossError as exc:
        bar.clear()
        if not main_rank:
            raise CliError(str(exc)) from exc
        partial = args.out.with_name(args.out.stem + ".last-good" + args.out.suffix)
        try:
            checkpoint.save_checkpoint(partial, trainer.model.cpu(), meta={**run_meta(**common), "status": "stopped: non-finite loss"})
        except checkpoint.CheckpointError as save_exc:
            raise CliError(f"{exc} Saving them failed, so nothing was saved: {save_exc}") from exc
        raise CliError(f"{exc} Last good weights saved to {partial}.") from exc
    except KeyboardInterrupt:
        bar.clear()
        print("interrupted; nothing saved", file=sys.stderr)
        return 130
    extra: dict = {}
    if group is not None:
        extra["distributed"] = {**group.meta(), "batch_size_per_rank": args.batch_size,
                                "samples_per_rank": group.gather(seen[0])}
    if trace_dir:
        distributed.write_trace(trace_dir, 0 if group is None else group.rank, trained)
    if not main_rank:
        return 0
    meta = run_meta(result=result, **common, **extra)
    try:
        checkpoint.save_checkpoint(args.out, trainer.model.cpu(), meta=meta)
    except checkpoint.CheckpointError as exc:
        raise CliError(str(exc)) from exc
    print(f"saved {args.out}")
    warning = divergence_warning(result, lr=tconfig.lr)
    if warning is not None:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    import torch

    from models import checkpoint, metrics, report, sources
    from models.data import as_float_images

    paths = args.checkpoints or checkpoint.bundled_checkpoints("mnist")
    if not paths:
        raise CliError("no checkpoints given and no bundled checkpoints found")
    try:
        loaded = [checkpoint.load_checkpoint(p) for p in paths]
    except checkpoint.CheckpointError as exc:
        raise CliError(str(exc)) from exc
    ds = _eval_data(args, loaded[0])
    for ck in loaded:
        _check_fits(ck, ds)
    name = ds.name
    test_x = as_float_images(ds.test_images)
    train_x = None if ds.is_subset else as_float_images(ds.train_images)
    results: dict[str, float | str] = {}
    rows = []
    seen: set[str] = set()
    torch.set_grad_enabled(False)
    for ck in loaded:
        prefix = ck.config.kind if ck.config.kind not in seen else f"{ck.config.kind}.{ck.path.stem}"
        seen.add(ck.config.kind)
        figs = report.model_figures(ck.model, test_x, train_x=train_x, iwae_k=args.iwae_k)
        if "nelbo" in figs:
            figs["bits_per_dim"] = metrics.bits_per_dim(figs["nelbo"], test_x.shape[1])
        for k, v in figs.items():
            results[f"{prefix}.{k}"] = round(float(v), 6)
        if ck.config.kind == "vae" and ck.config.likelihood == "bernoulli":
            # Beside the grey-level figures: the binarised test set, as papers report them.
            binary = report.binarized_figures(ck.model, test_x, iwae_k=args.iwae_k)
            figs.update({f"binarized.{k}": v for k, v in binary.items()})
            for k, v in binary.items():
                results[f"binarized.{prefix}.{k}"] = round(float(v), 6)
        rows.append((prefix, ck.path, figs))
    if name == "mnist" and test_x.shape[1] == 28 * 28:
        # Handwriting: the nearest codes' vote on clean digits and on the stand-in for other writers.
        coders = {prefix: ck.model for (prefix, _, _), ck in zip(rows, loaded, strict=True) if ck.config.pixels == test_x.shape[1]}
        figs = report.handwriting_figures(coders, ds.test_images, ds.test_labels,
                                          train_images=None if ds.is_subset else ds.train_images,
                                          train_labels=None if ds.is_subset else ds.train_labels)
        for k, v in figs.items():
            results[k] = round(float(v), 6)
        rows.append(("handwriting", "5-NN vote of the codes; robust: the stand-in for other writers (models/foreign.py)", figs))
    # The first checkpoint of each kind inpaints; the baseline is the training mean digit.
    by_kind: dict = {}
    for ck in loaded:
        kind = "dae_masking" if ck.config.kind == "dae" and ck.config.noise == "masking" else ck.config.kind
        # The benchmark's 12 x 12 hole is a 28 x 28 grey digit's.
        if kind in ("ae", "vae", "dae", "dae_masking") and ds.test_images.shape[1:] == (28, 28):
            by_kind.setdefault(kind, ck.model)
    if by_kind:
        mean_image = (test_x if train_x is None else train_x).mean(dim=0)
        figs = report.inpainting_figures(by_kind, test_x, mean_image)
        for k, v in figs.items():
            results[f"inpaint.{k}"] = v if isinstance(v, str) else round(float(v), 6)
        rows.append(("inpaint", "12x12 centre hole, masked pixels only", figs))
    if args.json:
        print(json.dumps({**results, "dataset": name, "dataset_source": ds.source,
                          "dataset_description": sources.describe(ds)}, indent=2))
        return 0
    print(f"test set: {ds.title}, {len(ds.test_images)} images ({ds.source})")
    for prefix, path, figs in rows:
        print(f"\n{prefix}  ({path})")
        for k, v in figs.items():
            print(f"  {k:<36} {v:>10}" if isinstance(v, str) else f"  {k:<36} {v:10.4f}")
    return 0


def _described(description: dict) -> str:
    colour = "colour" if description.get("colour") else "grey"
    return f"{description.get('source')} ({description.get('format')}, {description.get('size')} px {colour})"


def _eval_data(args: argparse.Namespace, ck, *, what: str = "evaluating"):
    """The test images for ``ck`` (eval, codes): --images read the way the checkpoint's
    images were (its description's size, colour and fit), else the dataset it names."""
    from models import sources

    description = ck.meta.get("dataset_description")
    if args.images is not None:
        h, _ = ck.config.image_shape
        basis = description if sources.needs_images(description) else {
            "size": h, "colour": getattr(ck.config, "channels", 1) == 3}
        try:
            source = sources.source_for(basis, args.images)
        except sources.SourceError as exc:
            raise CliError(f"--images {exc}") from exc
        return _read_user_images(source)
    if args.dataset is None and sources.needs_images(description):
        raise CliError(f"{ck.name} was trained on images you brought, {_described(description)}; "
                       f"add --images {description.get('source')}")
    name = args.dataset or ck.meta.get("dataset") or "mnist"
    if name not in DATASET_NAMES:
        raise CliError(f"{ck.name} was trained on {name!r}, not one of {', '.join(DATASET_NAMES)}; pass --dataset or --images")
    if args.command == "codes" and args.bundled:
        ds = _load_data(name, None, bundled=True)
    else:
        ds = _test_data(name, args.data_dir, what=what)
    side = ck.config.image_shape[0]
    if side != ds.test_images.shape[1] and side in sources.SIZES and side > ds.test_images.shape[1]:
        ds = sources.resized(ds, side)  # trained on the dataset padded (e.g. 28 -> 32 for a conv net)
    return sources.greyed(ds) if getattr(ck.config, "channels", 1) == 1 else ds  # trained on CIFAR-10 in grey


def _check_fits(ck, ds) -> None:
    """Refuse a model whose input is not the test images' size and colour."""
    h, w = ck.config.image_shape
    channels = getattr(ck.config, "channels", 1)
    shape = tuple(ds.test_images.shape[1:])
    if shape != ((h, w) if channels == 1 else (h, w, channels)):
        def text(dims: tuple) -> str:
            return f"{dims[0]}x{dims[1]} {'colour' if len(dims) == 3 else 'grey'}"

        wanted = (h, w) if channels == 1 else (h, w, channels)
        raise CliError(f"{ck.name}: the model takes {text(wanted)} images, {ds.title}'s test images are {text(shape)}")


def _test_data(name: str, data_dir: Path | None, *, what: str = "evaluating"):
    """``name``'s dataset from ``data_dir``; without one, the full set on disk, else the
    bundled test images (eval and codes)."""
    if data_dir is not None:
        return _load_data(name, data_dir)
    from models import data, sources

    try:
        return sources.load_registered(name)
    except data.DataError as exc:
        if name not in data.BUNDLED_DATASETS:
            if not isinstance(exc, data.DatasetNotFoundError):
                raise CliError(str(exc)) from exc
            raise CliError(f"{name} is not on disk; pass --data-dir or train/eval with `--download` first") from None
        ds = _load_data(name, None, bundled=True)
        if not isinstance(exc, data.DatasetNotFoundError):
            # A broken cache must not pass for the full set: the figures are the subset's.
            print(f"warning: {data.unreadable_summary(name, data.default_data_dir(), exc)}; "
                  f"{what} on the {ds.source} instead", file=sys.stderr)
        return ds


def cmd_codes(args: argparse.Namespace) -> int:
    from models import checkpoint
    from models.codes_csv import model_codes, write_codes_csv
    from models.manifold import ExportError

    try:
        ck = checkpoint.load_checkpoint(args.checkpoint)
    except checkpoint.CheckpointError as exc:
        raise CliError(str(exc)) from exc
    ds = _eval_data(args, ck, what="writing the codes")
    _check_fits(ck, ds)
    codes = model_codes(ck.model, ds.test_images)
    try:
        rows = write_codes_csv(args.out, codes, ds.test_labels if ds.labelled else None)
    except ExportError as exc:
        raise CliError(str(exc)) from exc
    means = " (its encoder's means)" if ck.config.kind == "vae" else ""
    print(f"wrote the {ck.config.kind.upper()}'s codes{means} of {rows} {ds.title} test images ({ds.source}) to {args.out}")
    return 0


def cmd_lab(args: argparse.Namespace) -> int:
    from models import lab

    try:
        values = lab.vector_losses(args.x, args.xhat)
    except lab.VectorError as exc:
        raise CliError(str(exc).replace("x̂", "x-hat")) from exc
    if args.json:
        print(json.dumps({k: (None if math.isnan(v) else v) for k, v in values.as_dict().items()}))
        return 0
    print(f"x = ({' '.join(f'{v:g}' for v in args.x)}), x-hat = ({' '.join(f'{v:g}' for v in args.xhat)})")
    for info in lab.LOSSES:
        print(f"  {info.title:<18} {lab.format_loss(values.as_dict()[info.name]):<10} range {info.range_text}, {info.better} is closer")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        validate(args)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if getattr(args, "mirror", None) and args.command is None:
        from models.data import MIRROR_ENV

        # The app's downloads (the Train panel's, in a thread) read it there.
        os.environ[MIRROR_ENV] = args.mirror
    if args.command is not None:
        # Every command computes with denormals flushed (see flush_denormals): set
        # before torch starts its worker threads. The app sets it on its own thread
        # (explorer.startup.configure_torch), since it can start before torch is imported.
        from models.train import flush_denormals

        flush_denormals()
    try:
        if args.command == "train":
            return cmd_train(args)
        if args.command == "eval":
            return cmd_eval(args)
        if args.command == "lab":
            return cmd_lab(args)
        if args.command == "codes":
            return cmd_codes(args)
        if args.command == "bench":
            os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
            from explorer.bench import bench_main

            return bench_main(quick=args.quick, as_json=args.json, root=Path(__file__).resolve().parent, data_dir=args.data_dir)
        from explorer.app import run_app

        return run_app(args)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
