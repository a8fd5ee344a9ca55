"""models.sources: what a user names (a registered dataset or a path to images) as one
Dataset with the description a checkpoint keeps, and the cheap checks the command line
makes before any work starts."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from models import sources
from models.distributed import Group
from models.sources import SourceError, inspect_images, load_source, read_images
from models.user_images import UserImagesError
from test_user_images import CLASSES, _shape


def make_shapes(root: Path, per_class: int = 20, *, colour: bool = True, flat: bool = False) -> Path:
    """test_user_images' coloured shapes of varying sizes on a dark ground, all saved as
    RGB (or grey) PNGs, one folder per class (or all in one)."""
    for c, kind in enumerate(CLASSES):
        folder = root if flat else root / kind
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            _shape(kind, i + c).convert("RGB" if colour else "L").save(folder / f"{kind}-{i:03d}.png")
    return root


def test_a_colour_folder_is_found_colour_and_read_with_its_description(tmp_path):
    root = make_shapes(tmp_path / "shapes")
    source = inspect_images(root, size=32)
    assert (source.format, source.size, source.colour, source.fit, source.files) == ("folder", 32, True, "pad", 60)
    opened = read_images(source, cache_dir=tmp_path / "cache")
    ds = opened.dataset
    assert ds.train_images.shape[1:] == (32, 32, 3) and ds.train_images.dtype == np.uint8
    assert len(ds.train_images) + len(ds.test_images) == 60 and len(ds.test_images) == 9
    assert ds.class_names == CLASSES and ds.labelled and set(np.unique(ds.train_labels)) == {0, 1, 2}
    d = opened.description
    assert d["format"] == "folder" and d["size"] == 32 and d["colour"] is True and d["fit"] == "pad"
    assert d["classes"] == list(CLASSES) and d["source"] == str(root.resolve()) and (d["train"], d["test"]) == (51, 9)
    assert opened.summary == ""


def test_a_grey_folder_is_found_grey_and_colour_can_be_turned_grey(tmp_path):
    assert inspect_images(make_shapes(tmp_path / "grey", 4, colour=False)).colour is False
    source = inspect_images(make_shapes(tmp_path / "colour", 4), colour=False)
    assert not source.colour
    assert read_images(source, cache_dir=tmp_path / "cache").dataset.train_images.ndim == 3


def test_a_flat_folder_is_one_unlabelled_class(tmp_path):
    ds = read_images(inspect_images(make_shapes(tmp_path / "flat", 5, flat=True)), cache_dir=tmp_path / "c").dataset
    assert not ds.labelled and ds.class_names == sources.UNLABELLED
    assert not ds.train_labels.any() and len(ds.train_labels) == len(ds.train_images)
    assert ds.description is not None and ds.description["classes"] == [] and ds.description["labelled"] is False


def test_arrays_keep_their_size_and_colour_arrays_can_be_read_grey(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (30, 20, 20, 3), dtype=np.uint8)
    np.savez(tmp_path / "a.npz", x=x, y=np.arange(30) % 2)
    source = inspect_images(tmp_path / "a.npz")
    assert (source.format, source.size, source.colour) == ("arrays", 20, True)
    colour = read_images(source).dataset
    grey = read_images(inspect_images(tmp_path / "a.npz", colour=False)).dataset
    assert grey.train_images.shape == colour.train_images.shape[:3]
    # The same split either way; Pillow's own conversion is the reference for the weights.
    reference = np.stack([np.asarray(Image.fromarray(im).convert("L")) for im in colour.train_images])
    assert np.abs(grey.train_images.astype(int) - reference).max() <= 1


@pytest.mark.parametrize(("make", "options", "message"), [
    (lambda p: p / "missing", {}, "no such file or folder"),
    (lambda p: (p / "empty").mkdir() or p / "empty", {}, "no .png/.jpg/.jpeg/.bmp/.webp files in it"),
    (lambda p: (p / "notes.txt").write_text("x") and p / "notes.txt", {}, "give an image folder, a .csv file or a .npz"),
    (lambda p: np.save(p / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True) or p / "o.npy", {},
     "contains Python objects"),
    (lambda p: np.savez(p / "w.npz", x=np.zeros((4, 5, 6), np.uint8)) or p / "w.npz", {}, "expected (N, H, W) grey"),
    (lambda p: np.savez(p / "n.npz", images=np.zeros((4, 5, 5), np.uint8)) or p / "n.npz", {}, "has no array named 'x'"),
    (lambda p: np.savez(p / "g.npz", x=np.zeros((4, 5, 5), np.uint8)) or p / "g.npz", {"colour": True}, "the images are grey"),
    (lambda p: np.savez(p / "s.npz", x=np.zeros((4, 5, 5), np.uint8)) or p / "s.npz", {"size": 28}, "not 28 x 28"),
    (lambda p: np.savez(p / "f.npz", x=np.zeros((4, 5, 5), np.uint8)) or p / "f.npz", {"fit": "crop"}, "--fit is for image folders"),
    (lambda p: (p / "a.csv").write_text("1,2,3\n") and p / "a.csv", {}, "2 pixel columns are not a square"),
    (lambda p: (p / "b.csv").write_text("1" + ",0" * 4 + "\n") and p / "b.csv", {"colour": True}, "CSV images are grey"),
    (lambda p: make_shapes(p / "s", 1), {"size": 30}, "28, 32, 64 pixels square, not 30"),
])
def test_what_cannot_be_used_is_refused_by_the_cheap_check(tmp_path, make, options, message):
    path = make(tmp_path)
    with pytest.raises(SourceError) as info:
        inspect_images(path, **options)
    assert message in str(info.value) and str(path) in str(info.value)


def test_what_only_the_reader_sees_keeps_its_message(tmp_path):
    (tmp_path / "c.csv").write_text("label" + "".join(f",p{i}" for i in range(4)) + "\n1,0,0,0,0\n2,0,x,0,0\n")
    source = inspect_images(tmp_path / "c.csv")
    with pytest.raises(UserImagesError, match=r"c\.csv, line 3, column 3: 'x' is not a number"):
        read_images(source)


def test_a_registered_dataset_is_padded_and_described():
    opened = load_source("mnist", bundled=True, size=32)
    ds = opened.dataset
    assert ds.train_images.shape[1:] == (32, 32)
    # The padding is black and the digit sits in the middle.
    assert not ds.train_images[:, :2].any() and not ds.train_images[:, :, -2:].any()
    assert (ds.train_images[:, 2:30, 2:30] == load_source("mnist", bundled=True).dataset.train_images).all()
    d = opened.description
    assert d["format"] == "registered" and d["name"] == "mnist" and d["size"] == 32 and d["colour"] is False
    assert d["classes"] == [str(i) for i in range(10)] and d["subset"] is True
    with pytest.raises(SourceError, match="not 30"):
        load_source("mnist", bundled=True, size=30)
    assert not sources.needs_images(d) and sources.needs_images({"format": "folder"}) and not sources.needs_images(None)


def test_cifar10_is_named_but_never_bundled():
    if importlib.util.find_spec("models.cifar") is None:
        with pytest.raises(SourceError, match="CIFAR-10 is not available in this version"):
            sources.load_registered("cifar10")
    else:
        with pytest.raises(SourceError, match="no CIFAR-10 images ship with the app"):
            sources.load_registered("cifar10", bundled=True)
    with pytest.raises(SourceError, match="unknown dataset 'svhn'"):
        sources.load_registered("svhn")


@pytest.mark.parametrize(("n", "world"), [(10, 2), (10, 3), (7, 4), (2, 3)])
def test_each_rank_takes_a_disjoint_shard_of_the_same_permutation(n, world):
    order = torch.randperm(n, generator=torch.Generator().manual_seed(1))
    shards = [Group(rank=r, world_size=world, local_rank=r, backend="gloo", device=torch.device("cpu")).shard(order)
              for r in range(world)]
    size = -(-n // world)
    assert all(len(s) == size for s in shards)  # the same number of steps everywhere
    together = torch.cat(shards)
    assert set(together.tolist()) == set(range(n))
    # Only the padding repeats, and never more than world - 1 images.
    assert len(together) - n == size * world - n < world or n < world
    if n % world == 0:
        assert len(set(together.tolist())) == len(together)
