"""Images a user brings (models.user_images): folders, CSVs and NumPy files, as a user
pointing the app at their own data meets them, on small images made here with Pillow."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

import models.user_images as ui
from models.user_images import Cancelled, UserImagesError, read_arrays, read_csv, read_image_folder

CLASSES = ("circle", "square", "triangle")
MODES = ("RGB", "L", "RGBA", "P")


def _shape(kind: str, i: int) -> Image.Image:
    """A coloured shape on a dark background, of a size and mode that vary with i."""
    w, h = 20 + (i * 7) % 45, 20 + (i * 11) % 40
    im = Image.new("RGB", (w, h), (10, 10, 10))
    draw = ImageDraw.Draw(im)
    fill = ((i * 40) % 256, (255 - i * 25) % 256, (i * 90) % 256)
    box = (w // 5, h // 5, w - w // 5, h - h // 5)
    if kind == "circle":
        draw.ellipse(box, fill=fill)
    elif kind == "square":
        draw.rectangle(box, fill=fill)
    else:
        draw.polygon([(box[0], box[3]), (box[2], box[3]), ((box[0] + box[2]) // 2, box[1])], fill=fill)
    mode = MODES[i % len(MODES)]
    return im.convert(mode) if mode != "P" else im.quantize(16)


def _make_folder(root: Path, per_class: int = 66, suffixes: tuple[str, ...] = (".png", ".bmp", ".jpg")) -> Path:
    for c, kind in enumerate(CLASSES):
        (root / kind).mkdir(parents=True)
        for i in range(per_class):
            im = _shape(kind, i + c)
            suffix = suffixes[i % len(suffixes)]
            if suffix in (".jpg", ".jpeg") and im.mode in ("RGBA", "P"):
                im = im.convert("RGB")
            im.save(root / kind / f"{i:03d}{suffix}")
    return root


@pytest.fixture
def shapes(tmp_path: Path) -> Path:
    """198 shapes in 3 class folders plus a truncated PNG and a text file named .png."""
    root = _make_folder(tmp_path / "shapes")
    good = (root / "circle" / "000.png").read_bytes()
    (root / "square" / "broken.png").write_bytes(good[: len(good) // 2])
    (root / "triangle" / "notes.png").write_text("not an image")
    return root


def test_a_class_folder_is_read_in_every_mode_with_labels_and_a_summary(shapes, tmp_path):
    data = read_image_folder(shapes, size=28, colour=True, cache_dir=tmp_path / "cache")
    assert data.class_names == CLASSES
    assert data.train_images.dtype == np.uint8 and data.train_images.shape[1:] == (28, 28, 3)
    assert data.count == 198 and data.file_count == 200
    labels = np.concatenate([data.train_labels, data.test_labels])
    assert np.bincount(labels).tolist() == [66, 66, 66]
    # Stratified: each class gives about a sixth of its images to test.
    assert np.bincount(data.test_labels).tolist() == [11, 11, 11]
    assert sorted(f for f, _ in data.skipped) == [str(shapes / "square" / "broken.png"), str(shapes / "triangle" / "notes.png")]
    line = data.summary()
    assert line.startswith("skipped 2 of 200 files: 1 truncated, 1 unreadable (first: ")
    assert line.endswith(f"(first: {shapes / 'square' / 'broken.png'}: truncated image file (image file is truncated))")
    # The shapes are bright on dark, so a colour image is not all one value.
    assert data.train_images.std() > 20
    desc = data.description()
    assert json.loads(json.dumps(desc)) == desc
    assert desc == {"name": "shapes", "size": 28, "colour": True, "classes": list(CLASSES), "count": 198,
                    "source": str(shapes)}


def test_grey_and_other_sizes(shapes, tmp_path):
    data = read_image_folder(shapes, size=32, colour=False, cache_dir=tmp_path / "cache")
    assert data.test_images.shape[1:] == (32, 32) and data.test_images.dtype == np.uint8
    assert not data.colour


def test_the_split_is_fixed_by_the_seed(tmp_path):
    root = _make_folder(tmp_path / "s", per_class=12, suffixes=(".png",))
    a = read_image_folder(root, cache_dir=tmp_path / "c1")
    b = read_image_folder(root, cache_dir=tmp_path / "c2")
    c = read_image_folder(root, seed=1, cache_dir=tmp_path / "c3")
    assert np.array_equal(a.test_images, b.test_images)
    assert not np.array_equal(a.test_images, c.test_images)
    assert len(a.test_images) == len(c.test_images) == 6


def test_a_flat_folder_has_no_labels(tmp_path):
    root = tmp_path / "flat"
    root.mkdir()
    for i in range(12):
        _shape("circle", i).save(root / f"{i}.webp")
    data = read_image_folder(root, cache_dir=tmp_path / "cache")
    assert data.train_labels is None and data.test_labels is None and data.class_names == ()
    assert (len(data.train_images), len(data.test_images)) == (10, 2)
    assert data.description()["classes"] == []


def test_train_and_test_folders_are_the_split(tmp_path):
    root = tmp_path / "own"
    _make_folder(root / "train", per_class=5, suffixes=(".png",))
    _make_folder(root / "test", per_class=2, suffixes=(".jpeg",))
    data = read_image_folder(root, cache_dir=tmp_path / "cache")
    assert data.class_names == CLASSES
    assert data.train_labels.tolist() == [0] * 5 + [1] * 5 + [2] * 5
    assert data.test_labels.tolist() == [0, 0, 1, 1, 2, 2]


def _bar(tmp_path: Path) -> Path:
    """A wide red bar on black: 90 x 30, red in rows 5 to 24."""
    root = tmp_path / "bar"
    root.mkdir()
    a = np.zeros((30, 90, 3), np.uint8)
    a[5:25, :, 0] = 255
    Image.fromarray(a).save(root / "bar.png")
    Image.fromarray(a).save(root / "bar2.png")
    return root


def test_pad_keeps_the_whole_bar_and_crop_fills_the_frame(tmp_path):
    root = _bar(tmp_path)
    padded = read_image_folder(root, size=30, colour=True, fit="pad", test_share=0, cache_dir=tmp_path / "c")
    cropped = read_image_folder(root, size=30, colour=True, fit="crop", test_share=0, cache_dir=tmp_path / "c")
    red_rows = lambda im: int((im[:, 15, 0] > 128).sum())  # noqa: E731
    # Padded: the 90-wide image shrinks to 30 x 10 between black rows; its red bar is ~7 rows.
    pad = padded.train_images[0]
    assert 5 <= red_rows(pad) <= 8
    assert pad[:8].max() < 40 and pad[-8:].max() < 40
    # Cropped: the centre 30 x 30 keeps the bar's full 20 rows.
    assert 19 <= red_rows(cropped.train_images[0]) <= 21


def test_pad_uses_the_border_colour(tmp_path):
    root = tmp_path / "white"
    root.mkdir()
    a = np.full((20, 60), 255, np.uint8)
    a[8:12, 20:40] = 0
    Image.fromarray(a).save(root / "w.png")
    data = read_image_folder(root, size=20, test_share=0, cache_dir=tmp_path / "c")
    assert data.train_images[0][:5].min() > 240


def test_a_second_read_comes_from_the_cache_and_a_change_invalidates_it(shapes, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = read_image_folder(shapes, cache_dir=cache)
    assert not first.from_cache and len(list(cache.glob("*.npz"))) == 1
    opened = []
    real_open = ui.Image.open
    monkeypatch.setattr(ui.Image, "open", lambda *a, **k: opened.append(a) or real_open(*a, **k))
    second = read_image_folder(shapes, cache_dir=cache)
    assert second.from_cache and opened == []
    assert np.array_equal(first.test_images, second.test_images) and np.array_equal(first.train_labels, second.train_labels)
    assert second.skipped == first.skipped and second.summary() == first.summary()
    assert second.class_names == CLASSES and second.source == str(shapes)
    # The same folder named another way finds the same cache.
    monkeypatch.chdir(shapes.parent)
    relative = read_image_folder(Path(shapes.name), cache_dir=cache)
    assert relative.from_cache and relative.source == "shapes"
    assert relative.skipped[0][0] == os.path.join("shapes", "square", "broken.png")
    # Touching one file changes the key: everything is decoded again.
    target = shapes / "circle" / "001.bmp"
    st = target.stat()
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    third = read_image_folder(shapes, cache_dir=cache)
    assert not third.from_cache and len(opened) == 200
    # Removing one does too.
    (shapes / "circle" / "002.jpg").unlink()
    assert not read_image_folder(shapes, cache_dir=cache).from_cache
    # Other settings are other caches.
    assert not read_image_folder(shapes, cache_dir=cache, fit="crop").from_cache


def test_a_damaged_cache_is_rebuilt(tmp_path):
    root = _make_folder(tmp_path / "s", per_class=3, suffixes=(".png",))
    cache = tmp_path / "cache"
    read_image_folder(root, cache_dir=cache)
    (cached,) = cache.glob("*.npz")
    cached.write_bytes(b"PK\x03\x04 damaged")
    again = read_image_folder(root, cache_dir=cache)
    assert not again.from_cache and again.count == 9
    assert read_image_folder(root, cache_dir=cache).from_cache


def test_the_default_cache_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_EXPLORER_CACHE", str(tmp_path / "appcache"))
    root = _make_folder(tmp_path / "s", per_class=2, suffixes=(".png",))
    read_image_folder(root)
    assert len(list((tmp_path / "appcache" / "user-images").glob("*.npz"))) == 1


def test_progress_counts_and_cancel_writes_nothing(tmp_path):
    root = _make_folder(tmp_path / "s", per_class=4, suffixes=(".png",))
    cache = tmp_path / "cache"
    seen: list[tuple[int, int]] = []
    read_image_folder(root, cache_dir=cache, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(i, 12) for i in range(1, 13)]
    calls = []
    with pytest.raises(Cancelled):
        read_image_folder(root, cache_dir=tmp_path / "cache2", size=32, should_stop=lambda: calls.append(1) or len(calls) > 5)
    assert not (tmp_path / "cache2").exists() or list((tmp_path / "cache2").iterdir()) == []


def test_a_folder_changing_while_it_is_read_is_refused_and_not_cached(tmp_path):
    root = _make_folder(tmp_path / "s", per_class=4, suffixes=(".png",))
    cache = tmp_path / "cache"
    victim = root / "triangle" / "003.png"

    def delete_one(done, total):
        if done == 1:
            victim.unlink()

    with pytest.raises(UserImagesError, match=r"changed while it was read; try again"):
        read_image_folder(root, cache_dir=cache, progress=delete_one)
    assert not cache.exists() or list(cache.iterdir()) == []
    # A file added during the read, too.
    with pytest.raises(UserImagesError, match=str(root).replace("\\", "\\\\") + ": changed"):
        read_image_folder(root, cache_dir=cache, progress=lambda d, t: d == 1 and _shape("square", 1).save(root / "square" / "new.png"))


def test_a_file_vanishing_between_listing_and_reading_is_skipped_then_refused(tmp_path, monkeypatch):
    root = _make_folder(tmp_path / "s", per_class=2, suffixes=(".png",))
    victim = root / "square" / "001.png"
    reasons: list[object] = []
    real = ui._decode

    def decode(path, **kw):
        if path == root / "circle" / "001.png":
            victim.unlink()
        out = real(path, **kw)
        reasons.append(out if isinstance(out, str) else None)
        return out

    monkeypatch.setattr(ui, "_decode", decode)
    with pytest.raises(UserImagesError, match="changed while it was read; try again"):
        read_image_folder(root, cache_dir=tmp_path / "c")
    # The vanished file was skipped, not a crash; the read as a whole is refused and not cached.
    assert [r for r in reasons if r] == ["vanished while it was read"]
    assert not (tmp_path / "c").exists() or list((tmp_path / "c").iterdir()) == []


def test_folder_errors_name_the_path_and_problem(tmp_path):
    with pytest.raises(UserImagesError, match="does not exist"):
        read_image_folder(tmp_path / "missing")
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(UserImagesError, match="a.txt: is not a folder"):
        read_image_folder(tmp_path / "a.txt")
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "readme.txt").write_text("x")
    with pytest.raises(UserImagesError, match=r"empty: no \.png/\.jpg/\.jpeg/\.bmp/\.webp files in it"):
        read_image_folder(empty, cache_dir=tmp_path / "c")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.png").write_text("x")
    (bad / "b.jpg").write_bytes(b"\xff\xd8\xff")
    with pytest.raises(UserImagesError, match=r"bad: none of its 2 image files can be read \(first: .*a\.png: cannot identify"):
        read_image_folder(bad, cache_dir=tmp_path / "c")
    one_bad_class = _make_folder(tmp_path / "classes", per_class=2, suffixes=(".png",))
    for f in (one_bad_class / "square").iterdir():
        f.write_text("x")
    with pytest.raises(UserImagesError, match="the class folder 'square' has no readable images"):
        read_image_folder(one_bad_class, cache_dir=tmp_path / "c")
    assert not (tmp_path / "c").exists() or list((tmp_path / "c").iterdir()) == []
    with pytest.raises(UserImagesError, match="fit must be one of pad, crop"):
        read_image_folder(empty, fit="stretch")
    mixed = tmp_path / "mixed"
    _make_folder(mixed / "train", per_class=2, suffixes=(".png",))
    (mixed / "test").mkdir()
    _shape("circle", 0).save(mixed / "test" / "x.png")
    with pytest.raises(UserImagesError, match="both have class folders or both be flat"):
        read_image_folder(mixed, cache_dir=tmp_path / "c")


# ---------------------------------------------------------------- CSV


def _csv_images(n: int = 12) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), np.arange(n) % 3


def _write_csv(path: Path, images: np.ndarray, labels: np.ndarray, header: bool) -> Path:
    lines = ["label," + ",".join(f"pixel{i}" for i in range(784))] if header else []
    lines += [f"{y}," + ",".join(str(v) for v in im.ravel()) for im, y in zip(images, labels, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("header", [True, False])
def test_a_csv_with_or_without_header(tmp_path, header):
    images, labels = _csv_images()
    data = read_csv(_write_csv(tmp_path / "m.csv", images, labels, header))
    assert data.class_names == ("0", "1", "2") and not data.colour
    assert data.train_images.shape[1:] == (28, 28) and data.train_images.dtype == np.uint8
    assert data.count == 12 and len(data.test_images) == 3
    both = np.concatenate([data.train_images, data.test_images])
    both_labels = np.concatenate([data.train_labels, data.test_labels])
    for im, y in zip(images, labels, strict=True):
        match = [i for i, b in enumerate(both) if np.array_equal(b, im)]
        assert len(match) == 1 and both_labels[match[0]] == y
    assert read_csv(tmp_path / "m.csv", size=28).count == 12
    with pytest.raises(UserImagesError, match="are 28 x 28, not 32 x 32"):
        read_csv(tmp_path / "m.csv", size=32)


def test_csv_faults_name_the_file_and_line(tmp_path):
    images, labels = _csv_images(3)
    good = _write_csv(tmp_path / "g.csv", images, labels, header=True).read_text().splitlines()

    def variant(name: str, lines: list[str]) -> Path:
        p = tmp_path / name
        p.write_text("\n".join(lines) + "\n")
        return p

    with pytest.raises(UserImagesError, match=r"short\.csv, line 3: 700 columns, expected 785"):
        read_csv(variant("short.csv", good[:2] + [",".join(good[2].split(",")[:700])] + good[3:]))
    cells = good[2].split(",")
    cells[10] = "abc"
    with pytest.raises(UserImagesError, match=r"word\.csv, line 3, column 11: 'abc' is not a number"):
        read_csv(variant("word.csv", good[:2] + [",".join(cells)]))
    # A first row with one bad cell is a fault, not a header line.
    with pytest.raises(UserImagesError, match=r"first\.csv, line 1, column 11: 'abc' is not a number"):
        read_csv(variant("first.csv", [",".join(cells)]))
    cells[10] = "300"
    with pytest.raises(UserImagesError, match=r"big\.csv, line 3, column 11: '300' is not a whole number from 0 to 255"):
        read_csv(variant("big.csv", good[:2] + [",".join(cells)]))
    with pytest.raises(UserImagesError, match=r"none\.csv: no rows"):
        read_csv(variant("none.csv", good[:1]))
    with pytest.raises(UserImagesError, match=r"void\.csv: no rows"):
        read_csv(variant("void.csv", []))
    with pytest.raises(UserImagesError, match=r"odd\.csv, line 1: 10 pixel columns are not a square"):
        read_csv(variant("odd.csv", ["1," + ",".join(["0"] * 10)]))
    with pytest.raises(UserImagesError, match=r"gone\.csv: cannot be opened"):
        read_csv(tmp_path / "gone.csv")


# ---------------------------------------------------------------- NumPy


def test_npz_and_npy_arrays(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (18, 32, 32, 3), dtype=np.uint8)
    y = np.array(["cat", "dog", "eel"] * 6)
    np.savez(tmp_path / "c.npz", x=x, y=y)
    data = read_arrays(tmp_path / "c.npz")
    assert data.colour and data.class_names == ("cat", "dog", "eel")
    assert data.train_images.shape == (15, 32, 32, 3) and np.bincount(data.test_labels).tolist() == [1, 1, 1]
    np.savez(tmp_path / "f.npz", x=x[..., 0] / 255.0, y=np.arange(18) % 2)
    floats = read_arrays(tmp_path / "f.npz")
    assert not floats.colour and floats.class_names == ("0", "1")
    assert np.array_equal(np.sort(np.concatenate([floats.train_images, floats.test_images]).ravel()), np.sort(x[..., 0].ravel()))
    np.save(tmp_path / "g.npy", x[..., 0])
    plain = read_arrays(tmp_path / "g.npy")
    assert plain.train_labels is None and plain.count == 18 and plain.train_images.dtype == np.uint8


def test_array_faults(tmp_path):
    x = np.zeros((4, 8, 8), np.uint8)
    objects = np.empty(4, dtype=object)
    objects[:] = [{"a": 1}, [2], "three", 4]
    np.save(tmp_path / "obj.npy", objects, allow_pickle=True)
    with pytest.raises(UserImagesError, match=r"obj\.npy: contains Python objects, which are never unpickled"):
        read_arrays(tmp_path / "obj.npy")
    np.savez(tmp_path / "obj.npz", x=objects)
    with pytest.raises(UserImagesError, match=r"obj\.npz: contains Python objects, which are never unpickled"):
        read_arrays(tmp_path / "obj.npz")
    np.savez(tmp_path / "noy.npz", images=x)
    with pytest.raises(UserImagesError, match=r"no array named 'x' \(found: images\)"):
        read_arrays(tmp_path / "noy.npz")
    np.savez(tmp_path / "flat.npz", x=np.zeros((4, 64)))
    with pytest.raises(UserImagesError, match=r"'x' has shape \(4, 64\)"):
        read_arrays(tmp_path / "flat.npz")
    np.savez(tmp_path / "wide.npz", x=np.zeros((4, 8, 9)))
    with pytest.raises(UserImagesError, match="8 x 9 images; they must be square"):
        read_arrays(tmp_path / "wide.npz")
    np.savez(tmp_path / "hot.npz", x=np.full((4, 8, 8), 2.5))
    with pytest.raises(UserImagesError, match=r"float images must lie in \[0, 1\]"):
        read_arrays(tmp_path / "hot.npz")
    np.savez(tmp_path / "ylen.npz", x=x, y=np.arange(3))
    with pytest.raises(UserImagesError, match=r"'y' has shape \(3,\); expected one label per image \(4\)"):
        read_arrays(tmp_path / "ylen.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(UserImagesError, match=r"junk\.npz: not a NumPy array file"):
        read_arrays(tmp_path / "junk.npz")
    with pytest.raises(UserImagesError, match="give a .npz or .npy file"):
        (tmp_path / "x.txt").write_text("1")
        read_arrays(tmp_path / "x.txt")
