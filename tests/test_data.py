"""Datasets: IDX reading, finding files, loading, downloading (from a loopback
server), the cache folder, the bundled subset and the registry.

Everything here is made by the tests themselves: no network, no shared data."""
from __future__ import annotations

import gzip
import hashlib
import os
import re
import socket
import sys
import threading
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from models import data

ROLE_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def make_arrays(*, n_train: int = 20, n_test: int = 10, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "train_images": rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        "train_labels": (np.arange(n_train) % 10).astype(np.uint8),
        "test_images": rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        "test_labels": (np.arange(n_test)[::-1] % 10).astype(np.uint8),
    }


def write_dataset(folder: Path, arrays: dict[str, np.ndarray], *, gz: bool = True, dotted: bool = False) -> None:
    for role, base in ROLE_FILES.items():
        name = base.replace("-idx", ".idx") if dotted else base
        data.write_idx(folder / (name + ".gz" if gz else name), arrays[role], gzip=gz)


def idx_bytes(array: np.ndarray, tmp_path: Path) -> bytes:
    path = data.write_idx(tmp_path / "scratch.idx", array)
    raw = path.read_bytes()
    path.unlink()
    return raw


# ---------------------------------------------------------------- IDX reader


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip_keeps_values_shape_and_dtype(tmp_path, dtype, gz):
    rng = np.random.default_rng(1)
    info = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else None
    if info is not None:
        array = rng.integers(info.min, info.max, size=(3, 5, 7), endpoint=True).astype(dtype)
    else:
        array = rng.normal(size=(3, 5, 7)).astype(dtype)
    path = data.write_idx(tmp_path / ("a.idx.gz" if gz else "a.idx"), array, gzip=gz)

    back = data.read_idx(path)

    assert back.dtype == np.dtype(dtype)
    assert back.shape == (3, 5, 7)
    np.testing.assert_array_equal(back, array)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == gz
    # IDX is big-endian on disk whatever the machine is.
    if not gz and np.dtype(dtype).itemsize > 1:
        assert path.read_bytes()[16:] == array.astype(np.dtype(dtype).newbyteorder(">")).tobytes()


def test_read_idx_detects_gzip_by_content_not_by_suffix(tmp_path):
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    gz_without_suffix = tmp_path / "labels-idx2-ubyte"
    gz_without_suffix.write_bytes(gzip.compress(idx_bytes(array, tmp_path)))
    raw_with_suffix = tmp_path / "labels-idx2-ubyte.gz"
    raw_with_suffix.write_bytes(idx_bytes(array, tmp_path))

    np.testing.assert_array_equal(data.read_idx(gz_without_suffix), array)
    np.testing.assert_array_equal(data.read_idx(raw_with_suffix), array)


def test_write_idx_rejects_types_idx_cannot_hold(tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        data.write_idx(tmp_path / "x.idx", np.zeros(3, dtype=np.uint64))
    assert not list(tmp_path.iterdir())


def _images_idx(n: int = 10) -> bytes:
    header = bytes((0, 0, 0x08, 3)) + np.array([n, 28, 28], dtype=">u4").tobytes()
    return header + np.random.default_rng(n).integers(0, 256, n * 784, dtype=np.uint8).tobytes()


def _corrupt_gzip() -> bytes:
    stream = bytearray(gzip.compress(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes()))
    stream[40:60] = bytes(20)  # damage the deflate data in the middle
    return bytes(stream)


BROKEN_FILES = {
    "truncated": (_images_idx()[:16 + 1000], "truncated: expected 7840 bytes of data (10 x 28 x 28 ubyte), found 1000"),
    "truncated-header": (bytes((0, 0, 8, 3, 0, 0)), "truncated"),
    "truncated-gzip": (gzip.compress(_images_idx())[:500], "truncated"),
    "empty": (b"", "empty"),
    "png": (b"\x89PNG\r\n\x1a\n" + bytes(100), "PNG image"),
    "text": (b"these are not the digits you are looking for\n", "text file"),
    "wrong-magic": (bytes((0, 1, 8, 1)) + _images_idx()[4:], "not an IDX file"),
    "unknown-type": (bytes((0, 0, 0x0A, 1, 0, 0, 0, 1, 0)), "not an IDX file"),
    "trailing-bytes": (_images_idx() + b"junk", "4 unexpected bytes after the data"),
    "corrupt-gzip": (_corrupt_gzip(), "corrupt gzip data"),
}


@pytest.mark.parametrize("kind", sorted(BROKEN_FILES))
def test_broken_file_gives_idx_format_error_naming_the_file(tmp_path, kind):
    content, phrase = BROKEN_FILES[kind]
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(content)

    with pytest.raises(data.IdxFormatError) as info:
        data.read_idx(path)

    message = str(info.value)
    assert "t10k-images-idx3-ubyte.gz" in message
    assert phrase in message


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(data.DataError, match="nothing-here"):
        data.read_idx(tmp_path / "nothing-here")


# ---------------------------------------------------------------- finding files


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("dotted", [False, True])
def test_find_dataset_files_in_a_flat_folder(tmp_path, gz, dotted):
    write_dataset(tmp_path, make_arrays(), gz=gz, dotted=dotted)

    files = data.find_dataset_files("mnist", tmp_path)

    assert files is not None and set(files) == set(data.ROLES)
    assert files["test_labels"].parent == tmp_path
    assert files["train_images"].name.startswith("train-images")
    assert files["train_images"].name.endswith(".gz") == gz


@pytest.mark.parametrize("layout", ["mnist", "MNIST/raw"])
def test_find_dataset_files_in_dataset_and_torchvision_subfolders(tmp_path, layout):
    folder = tmp_path / layout
    folder.mkdir(parents=True)
    write_dataset(folder, make_arrays(), gz=False)

    files = data.find_dataset_files("mnist", tmp_path)

    assert files is not None
    assert {p.parent for p in files.values()} == {folder}


def test_find_dataset_files_uses_the_torchvision_name_of_each_dataset(tmp_path):
    write_dataset(tmp_path / "FashionMNIST" / "raw", make_arrays())

    assert data.find_dataset_files("fashion-mnist", tmp_path) is not None
    assert data.find_dataset_files("kmnist", tmp_path) is None


def test_find_dataset_files_is_none_when_a_file_is_missing(tmp_path):
    write_dataset(tmp_path, make_arrays())
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()

    assert data.find_dataset_files("mnist", tmp_path) is None
    assert data.find_dataset_files("mnist", tmp_path / "does-not-exist") is None


def test_unknown_dataset_name_lists_the_known_ones(tmp_path):
    with pytest.raises(data.DataError, match="fashion-mnist"):
        data.find_dataset_files("cifar", tmp_path)


# ---------------------------------------------------------------- loading


def test_load_dataset_reads_a_small_fixture(tmp_path):
    arrays = make_arrays(n_train=20, n_test=10)
    write_dataset(tmp_path, arrays)

    ds = data.load_dataset("mnist", data_dir=tmp_path)

    assert ds.train_images.shape == (20, 28, 28) and ds.train_images.dtype == np.uint8
    assert ds.test_images.shape == (10, 28, 28)
    assert ds.train_labels.shape == (20,) and ds.test_labels.shape == (10,)
    np.testing.assert_array_equal(ds.train_images, arrays["train_images"])
    np.testing.assert_array_equal(ds.test_labels, arrays["test_labels"])
    assert ds.class_names == tuple("0123456789") and ds.num_classes == 10
    assert not ds.is_subset
    assert str(tmp_path) in ds.source
    # Writable, so torch.from_numpy accepts them without a warning.
    assert ds.train_images.flags.writeable

    flat = data.to_float(ds.test_images)
    assert flat.shape == (10, 784) and flat.dtype == np.float32
    assert flat.min() >= 0.0 and flat.max() <= 1.0
    assert flat[0, 0] == pytest.approx(arrays["test_images"][0, 0, 0] / 255)


def test_mismatched_image_and_label_counts_are_refused(tmp_path):
    arrays = make_arrays(n_train=20)
    arrays["train_labels"] = arrays["train_labels"][:15]
    write_dataset(tmp_path, arrays)

    with pytest.raises(data.IdxFormatError) as info:
        data.load_dataset("mnist", data_dir=tmp_path)

    assert "15 labels" in str(info.value) and "20 images" in str(info.value)
    assert "train-labels-idx1-ubyte.gz" in str(info.value)


def test_labels_outside_the_classes_are_refused(tmp_path):
    arrays = make_arrays()
    arrays["test_labels"][3] = 12
    write_dataset(tmp_path, arrays)

    with pytest.raises(data.IdxFormatError, match="between 0 and 9"):
        data.load_dataset("mnist", data_dir=tmp_path)


def test_images_of_the_wrong_size_are_refused(tmp_path):
    arrays = make_arrays()
    arrays["train_images"] = np.zeros((20, 32, 32), dtype=np.uint8)
    write_dataset(tmp_path, arrays)

    with pytest.raises(data.IdxFormatError, match=r"\(N, 28, 28\).*\(20, 32, 32\)"):
        data.load_dataset("mnist", data_dir=tmp_path)


def test_labels_file_in_place_of_images_is_refused(tmp_path):
    arrays = make_arrays()
    arrays["test_images"] = arrays["test_labels"]
    write_dataset(tmp_path, arrays)

    with pytest.raises(data.IdxFormatError, match="t10k-images-idx3-ubyte.gz"):
        data.load_dataset("mnist", data_dir=tmp_path)


def test_dataset_not_found_names_the_folders_searched_and_the_fixes(tmp_path):
    with pytest.raises(data.DatasetNotFoundError) as info:
        data.load_dataset("fashion-mnist", data_dir=tmp_path)

    message = str(info.value)
    assert str(tmp_path) in message
    assert str(tmp_path / "fashion-mnist") in message
    assert "train-images-idx3-ubyte.gz" in message and "t10k-labels-idx1-ubyte.gz" in message
    assert "--download" in message and "--data-dir" in message and "LATENT_EXPLORER_DATA" in message


def test_dataset_not_found_says_which_files_are_missing(tmp_path):
    write_dataset(tmp_path, make_arrays())
    (tmp_path / "train-images-idx3-ubyte.gz").unlink()
    (tmp_path / "t10k-images-idx3-ubyte.gz").unlink()

    with pytest.raises(data.DatasetNotFoundError, match="2 of the 4 files.*missing: train-images-idx3-ubyte.gz, t10k-images"):
        data.load_dataset("mnist", data_dir=tmp_path)


def test_load_dataset_without_data_dir_looks_in_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_EXPLORER_DATA", str(tmp_path))
    write_dataset(tmp_path / "mnist", make_arrays(n_train=30))

    assert len(data.load_dataset("mnist").train_images) == 30
    with pytest.raises(data.DatasetNotFoundError, match=re.escape(str(tmp_path / "kmnist"))):
        data.load_dataset("kmnist")


def test_another_datasets_files_are_recognised(tmp_path, monkeypatch):
    arrays = make_arrays()
    write_dataset(tmp_path, arrays)
    labels_md5 = hashlib.md5(idx_bytes(arrays["test_labels"], tmp_path)).hexdigest()
    digits = tiny_spec({}, name="digits", content_md5={"test_labels": labels_md5})
    monkeypatch.setattr(data, "DATASETS", {**data.DATASETS, "digits": digits})

    with pytest.raises(data.DataError, match="holds Tiny digits, not Fashion-MNIST"):
        data.load_dataset("fashion-mnist", data_dir=tmp_path)


# ---------------------------------------------------------------- cache folder


def test_default_data_dir_honours_the_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_EXPLORER_DATA", str(tmp_path / "my data"))
    assert data.default_data_dir() == tmp_path / "my data"
    assert data.dataset_dir("kmnist") == tmp_path / "my data" / "kmnist"


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="XDG is the Linux convention")
def test_default_data_dir_follows_xdg_on_linux(tmp_path, monkeypatch):
    monkeypatch.delenv("LATENT_EXPLORER_DATA", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert data.default_data_dir() == tmp_path / "latent-explorer" / "datasets"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert data.default_data_dir() == Path.home() / ".local" / "share" / "latent-explorer" / "datasets"


# ---------------------------------------------------------------- bundled subset


def test_bundled_subset_is_the_mnist_test_set():
    ds = data.load_bundled()

    assert ds.is_subset
    assert ds.test_images.shape == (10_000, 28, 28) and ds.test_images.dtype == np.uint8
    assert ds.test_labels.shape == (10_000,)
    assert set(np.unique(ds.test_labels)) == set(range(10))
    assert ds.train_images.shape == ds.test_images.shape
    assert "bundled" in ds.source and "10,000" in ds.source
    # Digits: dark background, bright strokes.
    assert ds.test_images[:, 0, 0].max() == 0 and ds.test_images.max() == 255
    assert (data.bundled_data_dir().parent / "ATTRIBUTION.md").is_file()


def test_only_mnist_is_bundled():
    with pytest.raises(data.DatasetNotFoundError, match="only MNIST"):
        data.load_bundled("kmnist")


def test_load_dataset_or_bundled_prefers_the_full_set(tmp_path):
    write_dataset(tmp_path, make_arrays(n_train=20))
    full = data.load_dataset_or_bundled("mnist", data_dir=tmp_path)
    assert not full.is_subset and len(full.train_images) == 20

    fallback = data.load_dataset_or_bundled("mnist", data_dir=tmp_path / "empty")
    assert fallback.is_subset and len(fallback.test_images) == 10_000
    assert "no full dataset found" in fallback.source

    clothes = data.load_dataset_or_bundled("fashion-mnist", data_dir=tmp_path / "empty")
    assert clothes.is_subset and clothes.class_names[0] == "T-shirt/top"
    with pytest.raises(data.DatasetNotFoundError):  # KMNIST is not bundled
        data.load_dataset_or_bundled("kmnist", data_dir=tmp_path / "empty")


def test_load_dataset_or_bundled_says_why_a_broken_full_set_was_skipped(tmp_path):
    write_dataset(tmp_path, make_arrays())
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"")

    ds = data.load_dataset_or_bundled("mnist", data_dir=tmp_path)

    assert ds.is_subset
    assert "could not be read" in ds.source and "empty" in ds.source


# ---------------------------------------------------------------- registry


def test_registry_lists_three_datasets_with_four_checksummed_files_each():
    assert set(data.DATASETS) == {"mnist", "fashion-mnist", "kmnist"}
    for name, spec in data.DATASETS.items():
        assert spec.name == name
        assert set(spec.files) == set(data.ROLES)
        assert len(spec.class_names) == 10
        assert spec.mirrors and all(m.startswith(("http://", "https://")) for m in spec.mirrors)
        assert spec.homepage and spec.licence
        for role, f in spec.files.items():
            assert f.filename == ROLE_FILES[role] + ".gz"
            assert re.fullmatch(r"[0-9a-f]{32}", f.md5)
            assert f.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", f.sha256)
    assert data.DATASETS["fashion-mnist"].class_names[9] == "Ankle boot"
    assert data.DATASETS["kmnist"].class_names[0] == "o"


# ---------------------------------------------------------------- downloads


@dataclass
class Server:
    """A loopback HTTP server holding files by URL path, logging (path, Range header)."""

    url: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    honour_range: bool = True
    # URL path -> bytes after which the server closes the connection mid-file (once).
    cut_after: dict[str, int] = field(default_factory=dict)


def _handler_for(state: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            range_header = self.headers.get("Range")
            state.requests.append((self.path, range_header))
            body = state.files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            start = 0
            if range_header and state.honour_range:
                start = int(re.fullmatch(r"bytes=(\d+)-", range_header).group(1))
                if start >= len(body):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(body) - start))
            self.end_headers()
            cut = state.cut_after.pop(self.path, None)
            # HTTP/1.0: returning closes the connection, short of the promised length.
            self.wfile.write(body[start:] if cut is None else body[start : start + cut])

        def log_message(self, *args) -> None:
            pass

    return Handler


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = False

    def handle_error(self, request, client_address) -> None:
        # A cancelled download closes the connection while the server writes: expected.
        pass


@pytest.fixture
def server():
    state = Server()
    httpd = _QuietServer(("127.0.0.1", 0), _handler_for(state))
    # A short poll interval so shutdown() returns at once instead of after 0.5 s.
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def tiny_spec(payloads: dict[str, bytes], *, name: str = "tiny", sha256: dict[str, str] | None = None,
              content_md5: dict[str, str] | None = None) -> data.DatasetSpec:
    files = {}
    for role in data.ROLES:
        body = payloads.get(role, b"")
        files[role] = data.FileSpec(
            filename=ROLE_FILES[role] + ".gz",
            md5=hashlib.md5(body).hexdigest(),
            sha256=(sha256 or {}).get(role, hashlib.sha256(body).hexdigest()),
            size=len(body),
            content_md5=(content_md5 or {}).get(role),
        )
    return data.DatasetSpec(
        name=name, title=f"Tiny {name}", class_names=tuple("0123456789"), files=files,
        mirrors=("http://127.0.0.1:9/",), homepage="http://example.invalid/", licence="test",
    )


@pytest.fixture
def tiny(tmp_path, monkeypatch, server):
    """A 'tiny' dataset in the registry, served by the loopback server as a public
    mirror does (/ok/<file>) and as a local mirror does (/local/tiny/<file>); its
    registered public mirror is a closed port. No local mirror is set."""
    monkeypatch.delenv(data.MIRROR_ENV, raising=False)
    arrays = make_arrays(n_train=200, n_test=50)  # 200 random images: several download chunks
    payloads = {}
    for role in data.ROLES:
        payloads[role] = gzip.compress(idx_bytes(arrays[role], tmp_path), mtime=0)
        server.files[f"/ok/{ROLE_FILES[role]}.gz"] = payloads[role]
        server.files[f"/local/tiny/{ROLE_FILES[role]}.gz"] = payloads[role]
    spec = tiny_spec(payloads)
    monkeypatch.setattr(data, "DATASETS", {**data.DATASETS, "tiny": spec})
    return arrays, payloads


@pytest.fixture
def mirror(monkeypatch, server, tiny) -> str:
    """$LATENT_EXPLORER_MIRROR at the loopback server, as a classroom sets it."""
    monkeypatch.setenv(data.MIRROR_ENV, server.url + "/local/")
    return server.url + "/local/tiny/"


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def test_download_fills_the_cache_and_reports_progress(tmp_path, server, tiny, mirror):
    arrays, payloads = tiny
    seen: list[data.DownloadProgress] = []

    files = data.download_dataset("tiny", data_dir=tmp_path / "cache", progress=seen.append)

    target = tmp_path / "cache" / "tiny"
    assert {p.parent for p in files.values()} == {target}
    for role in data.ROLES:
        assert files[role].read_bytes() == payloads[role]
    assert not list(target.glob("*.part"))
    # Progress: four files in order, bytes only going up, ending at the total.
    assert [p.file_index for p in seen] == sorted(p.file_index for p in seen)
    assert {p.file_count for p in seen} == {4}
    for index, role in enumerate(data.ROLES):
        mine = [p for p in seen if p.file_index == index]
        assert mine[0].filename == ROLE_FILES[role] + ".gz"
        done = [p.done_bytes for p in mine]
        assert done == sorted(done)
        assert done[-1] == mine[-1].total_bytes == len(payloads[role])
    assert len([p for p in seen if p.file_index == 0]) >= 3  # the images came in several chunks

    ds = data.load_dataset("tiny", data_dir=tmp_path / "cache")
    np.testing.assert_array_equal(ds.train_images, arrays["train_images"])


def test_load_dataset_downloads_when_asked(tmp_path, server, tiny, monkeypatch):
    spec = data.DATASETS["tiny"]
    monkeypatch.setitem(data.DATASETS, "tiny", replace(spec, mirrors=(server.url + "/ok/",)))

    with pytest.raises(data.DatasetNotFoundError):
        data.load_dataset("tiny", data_dir=tmp_path)
    ds = data.load_dataset("tiny", data_dir=tmp_path, download=True)

    assert ds.train_images.shape == (200, 28, 28)
    assert (tmp_path / "tiny" / "t10k-labels-idx1-ubyte.gz").is_file()


def test_download_resumes_a_partial_file_with_a_range_request(tmp_path, server, tiny, mirror):
    _, payloads = tiny
    target = tmp_path / "tiny"
    target.mkdir()
    body = payloads["train_images"]
    half = len(body) // 2
    (target / "train-images-idx3-ubyte.gz.part").write_bytes(body[:half])
    seen: list[data.DownloadProgress] = []

    data.download_dataset("tiny", data_dir=tmp_path, progress=seen.append)

    assert ("/local/tiny/train-images-idx3-ubyte.gz", f"bytes={half}-") in server.requests
    assert (target / "train-images-idx3-ubyte.gz").read_bytes() == body
    assert seen[0].done_bytes == half
    assert not (target / "train-images-idx3-ubyte.gz.part").exists()


def test_download_restarts_when_the_server_ignores_the_range(tmp_path, server, tiny, mirror):
    _, payloads = tiny
    server.honour_range = False
    target = tmp_path / "tiny"
    target.mkdir()
    body = payloads["train_images"]
    (target / "train-images-idx3-ubyte.gz.part").write_bytes(body[:1000])

    data.download_dataset("tiny", data_dir=tmp_path)

    assert (target / "train-images-idx3-ubyte.gz").read_bytes() == body
    # Right the first time: the full answer replaced the old bytes instead of being appended.
    assert [p for p, _ in server.requests].count("/local/tiny/train-images-idx3-ubyte.gz") == 1


def test_download_accepts_a_complete_part_file_the_server_answers_416_for(tmp_path, server, tiny, mirror):
    _, payloads = tiny
    target = tmp_path / "tiny"
    target.mkdir()
    (target / "train-labels-idx1-ubyte.gz.part").write_bytes(payloads["train_labels"])

    data.download_dataset("tiny", data_dir=tmp_path)

    assert (target / "train-labels-idx1-ubyte.gz").read_bytes() == payloads["train_labels"]


def test_download_starts_over_when_a_resumed_file_is_corrupt(tmp_path, server, tiny, mirror):
    _, payloads = tiny
    target = tmp_path / "tiny"
    target.mkdir()
    body = payloads["train_images"]
    (target / "train-images-idx3-ubyte.gz.part").write_bytes(bytes(len(body) // 2))  # zeros: wrong bytes

    data.download_dataset("tiny", data_dir=tmp_path)

    assert (target / "train-images-idx3-ubyte.gz").read_bytes() == body
    assert ("/local/tiny/train-images-idx3-ubyte.gz", None) in server.requests


def test_download_only_fetches_missing_files(tmp_path, server, tiny, mirror):
    arrays, _ = tiny
    target = tmp_path / "tiny"
    data.write_idx(target / "t10k-labels-idx1-ubyte", arrays["test_labels"])  # raw, already there
    seen: list[data.DownloadProgress] = []

    files = data.download_dataset("tiny", data_dir=tmp_path, progress=seen.append)

    assert files["test_labels"] == target / "t10k-labels-idx1-ubyte"
    assert not any("t10k-labels" in path for path, _ in server.requests)
    assert {p.file_count for p in seen} == {3}


def test_bad_checksum_raises_and_leaves_no_file(tmp_path, server, tiny, mirror, monkeypatch):
    _, payloads = tiny
    wrong = "0" * 64
    spec = tiny_spec(payloads, sha256={"test_images": wrong})
    monkeypatch.setitem(data.DATASETS, "tiny", spec)

    with pytest.raises(data.ChecksumError) as info:
        data.download_dataset("tiny", data_dir=tmp_path)

    message = str(info.value)
    assert "t10k-images-idx3-ubyte.gz" in message
    assert wrong in message and hashlib.sha256(payloads["test_images"]).hexdigest() in message
    assert mirror in message
    assert not (tmp_path / "tiny" / "t10k-images-idx3-ubyte.gz").exists()
    assert not (tmp_path / "tiny" / "t10k-images-idx3-ubyte.gz.part").exists()


def test_md5_is_checked_when_no_sha256_is_known(tmp_path, server, tiny, mirror, monkeypatch):
    spec = data.DATASETS["tiny"]
    files = dict(spec.files)
    files["train_labels"] = data.FileSpec(files["train_labels"].filename, md5="f" * 32)
    monkeypatch.setitem(data.DATASETS, "tiny", replace(spec, files=files))

    with pytest.raises(data.ChecksumError, match="md5 expected f{32}"):
        data.download_dataset("tiny", data_dir=tmp_path)


def test_a_repackaged_file_with_the_official_content_is_accepted(tmp_path, server, tiny, mirror, monkeypatch):
    arrays, payloads = tiny
    content = idx_bytes(arrays["test_labels"], tmp_path)
    spec = tiny_spec(payloads, content_md5={"test_labels": hashlib.md5(content).hexdigest()})
    monkeypatch.setitem(data.DATASETS, "tiny", spec)
    # Same IDX bytes, different gzip wrapper (another timestamp): another digest.
    server.files["/local/tiny/t10k-labels-idx1-ubyte.gz"] = gzip.compress(content, mtime=1234567890)

    files = data.download_dataset("tiny", data_dir=tmp_path)

    np.testing.assert_array_equal(data.read_idx(files["test_labels"]), arrays["test_labels"])


def test_unreachable_mirrors_raise_download_error_with_manual_instructions(tmp_path, tiny):
    with pytest.raises(data.DownloadError) as info:
        data.download_dataset("tiny", data_dir=tmp_path, mirrors=[closed_port_url()], timeout=5)

    message = str(info.value)
    assert str(tmp_path / "tiny") in message
    for base in ROLE_FILES.values():
        assert base + ".gz" in message
    assert "--data-dir" in message and "LATENT_EXPLORER_DATA" in message
    assert not list((tmp_path / "tiny").glob("*-ubyte.gz"))


def test_a_missing_file_on_the_first_mirror_falls_through_to_the_second(tmp_path, server, tiny):
    _, payloads = tiny

    files = data.download_dataset("tiny", data_dir=tmp_path, mirrors=[server.url + "/gone/", server.url + "/ok/"])

    assert files["train_images"].read_bytes() == payloads["train_images"]
    assert ("/gone/train-images-idx3-ubyte.gz", None) in server.requests


def test_cancel_keeps_the_part_file_and_the_next_download_resumes(tmp_path, server, tiny, mirror):
    _, payloads = tiny
    body = payloads["train_images"]
    calls = []

    def cancel_on_second_chunk() -> bool:
        calls.append(1)
        return len(calls) > 1

    with pytest.raises(data.DownloadCancelled):
        data.download_dataset("tiny", data_dir=tmp_path, should_cancel=cancel_on_second_chunk)

    part = tmp_path / "tiny" / "train-images-idx3-ubyte.gz.part"
    kept = part.stat().st_size
    assert 0 < kept < len(body)
    assert not (tmp_path / "tiny" / "train-images-idx3-ubyte.gz").exists()

    data.download_dataset("tiny", data_dir=tmp_path)

    assert (tmp_path / "tiny" / "train-images-idx3-ubyte.gz").read_bytes() == body
    assert ("/local/tiny/train-images-idx3-ubyte.gz", f"bytes={kept}-") in server.requests


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full to simulate a full disk")
def test_a_full_disk_gives_a_clear_error_and_no_half_file(tmp_path, server, tiny, mirror):
    target = tmp_path / "tiny"
    target.mkdir()
    # Every write to /dev/full fails with ENOSPC, as on a full disk.
    (target / "train-images-idx3-ubyte.gz.part").symlink_to("/dev/full")

    with pytest.raises(data.DataError, match="not enough disk space"):
        data.download_dataset("tiny", data_dir=tmp_path)

    assert not (target / "train-images-idx3-ubyte.gz").exists()
    assert not os.path.lexists(target / "train-images-idx3-ubyte.gz.part")


def test_the_local_mirror_is_tried_before_the_public_ones(tmp_path, server, tiny, monkeypatch):
    _, payloads = tiny
    spec = data.DATASETS["tiny"]
    # Both answer; the public one is never asked while the local one has the file.
    monkeypatch.setitem(data.DATASETS, "tiny", replace(spec, mirrors=(server.url + "/ok/",)))
    monkeypatch.setenv(data.MIRROR_ENV, server.url + "/local")
    del server.files["/local/tiny/t10k-labels-idx1-ubyte.gz"]  # missing there: the public mirror brings it

    files = data.download_dataset("tiny", data_dir=tmp_path)

    for role in data.ROLES:
        assert files[role].read_bytes() == payloads[role]
    asked = [path for path, _ in server.requests]
    assert asked == [f"/local/tiny/{ROLE_FILES[role]}.gz" for role in data.ROLES] + ["/ok/t10k-labels-idx1-ubyte.gz"]


def test_the_mirror_argument_is_tried_first_and_checked_like_the_public_mirrors(tmp_path, server, tiny, monkeypatch):
    _, payloads = tiny
    server.files["/other/tiny/train-images-idx3-ubyte.gz"] = b"not the images"

    with pytest.raises(data.ChecksumError, match="/other/tiny/train-images"):
        data.load_dataset("tiny", data_dir=tmp_path, download=True, mirror=server.url + "/other/")

    assert server.requests[0][0] == "/other/tiny/train-images-idx3-ubyte.gz"
    assert not (tmp_path / "tiny" / "train-images-idx3-ubyte.gz").exists()


@pytest.mark.parametrize("url", ["ftp://files.example/", "192.168.1.10:8000", "http://"])
def test_a_mirror_that_is_not_a_web_address_is_refused_before_downloading(tmp_path, server, tiny, monkeypatch, url):
    monkeypatch.setenv(data.MIRROR_ENV, url)

    with pytest.raises(data.DataError, match=r"\$LATENT_EXPLORER_MIRROR must be an http:// or https:// address"):
        data.download_dataset("tiny", data_dir=tmp_path)

    assert server.requests == []


def test_a_transfer_cut_mid_file_keeps_the_partial_file_and_says_so(tmp_path, server, tiny, mirror):
    _, payloads = tiny
    body = payloads["train_images"]
    half = len(body) // 2
    server.cut_after[f"/local/tiny/{ROLE_FILES['train_images']}.gz"] = half

    with pytest.raises(data.DownloadError) as info:
        data.download_dataset("tiny", data_dir=tmp_path, timeout=5)

    part = tmp_path / "tiny" / "train-images-idx3-ubyte.gz.part"
    assert part.stat().st_size == half
    message = str(info.value)
    assert "transfer broke off" in message and "none of the mirrors could be reached" not in message
    assert str(part) in message and f"{half:,} of {len(body):,} bytes" in message
    assert "run the download again" in message

    data.download_dataset("tiny", data_dir=tmp_path)

    assert (tmp_path / "tiny" / "train-images-idx3-ubyte.gz").read_bytes() == body
    assert (f"/local/tiny/{ROLE_FILES['train_images']}.gz", f"bytes={half}-") in server.requests


def test_a_broken_cache_is_summarised_file_by_file(tmp_path):
    arrays = make_arrays()
    folder = tmp_path / "mnist"
    write_dataset(folder, arrays)
    (folder / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b broken")
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(b"<html>no</html>")
    with pytest.raises(data.DataError) as info:
        data.load_dataset("mnist", data_dir=tmp_path)

    summary = data.unreadable_summary("mnist", tmp_path, info.value)

    assert summary.startswith("2 of the 4 MNIST files")
    assert "train-images-idx3-ubyte.gz" in summary and "t10k-labels-idx1-ubyte.gz" in summary
    assert "train-labels" not in summary and "\n" not in summary


# ---------------------------------------------------------------- pixel values


def test_as_float_images_scales_bytes_and_flattens():
    import torch

    raw = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)
    raw.flags.writeable = False
    out = data.as_float_images(raw)
    assert out.dtype == torch.float32 and out.shape == (1, 4)
    assert out[0].tolist() == pytest.approx([0.0, 1.0, 0.2, 0.4])
    assert data.as_float_images(torch.from_numpy(raw.copy()))[0].tolist() == pytest.approx([0.0, 1.0, 0.2, 0.4])
    assert data.as_float_images(np.ones((2, 1, 3, 3), np.float64)).shape == (2, 9)
    assert data.as_float_images(np.zeros((0, 28, 28), np.uint8)).shape == (0, 784)


def test_numpy_and_tensor_conversions_give_the_same_pixels():
    import torch

    raw = np.random.default_rng(0).integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    as_array = data.to_float(raw)
    assert as_array.shape == (5, 784) and as_array.dtype == np.float32
    np.testing.assert_array_equal(as_array, data.as_float_images(raw).numpy())
    np.testing.assert_array_equal(as_array, data.as_float_images(torch.from_numpy(raw)).numpy())
    # Shape kept, for a single canvas; floats are cast, not rescaled.
    assert data.unit_floats(raw[0]).shape == (28, 28)
    np.testing.assert_array_equal(data.unit_floats(np.array([0.5], np.float64)), np.array([0.5], np.float32))


@pytest.mark.slow
def test_the_data_module_loads_without_torch():
    import subprocess

    code = "import sys, models.data; assert 'torch' not in sys.modules, 'models.data imported torch'"
    proc = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parent.parent,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
