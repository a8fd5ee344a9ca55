"""CIFAR-10 from its binary archive: a tiny fake archive made here, read, downloaded from
a loopback server (resumed after a cut, refused on a bad checksum) and refused when
broken. No network."""
from __future__ import annotations

import hashlib
import io
import tarfile

import numpy as np
import pytest

from models import cifar, data
from test_data import server  # noqa: F401 (the loopback HTTP server fixture)

RECORDS = {name: 3 for name in cifar.TRAIN_FILES} | {cifar.TEST_FILE: 4}


def record_bytes(count: int, seed: int) -> tuple[bytes, np.ndarray, np.ndarray]:
    """``count`` records of random pixels; returns the bytes and the images (channels last) and labels they hold."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, count).astype(np.uint8)
    planes = rng.integers(0, 256, (count, 3, 32, 32), dtype=np.uint8)
    raw = b"".join(bytes([labels[k]]) + planes[k].tobytes() for k in range(count))
    return raw, planes.transpose(0, 2, 3, 1), labels.astype(np.int64)


def make_archive(extra: dict[str, bytes] | None = None, *, drop: str | None = None,
                 names: str = "plane\ncar\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n") -> tuple[bytes, dict]:
    members = {}
    truth = {}
    for seed, (name, count) in enumerate(RECORDS.items()):
        raw, images, labels = record_bytes(count, seed)
        members[f"{cifar.FOLDER}/{name}"] = raw
        truth[name] = (images, labels)
    members[f"{cifar.FOLDER}/{cifar.META_FILE}"] = names.encode()
    members.pop(f"{cifar.FOLDER}/{drop}", None)
    members.update(extra or {})
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, body in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return buffer.getvalue(), truth


def spec_for(payload: bytes, *, md5: str | None = None) -> cifar.CifarSpec:
    return cifar.CifarSpec(
        archive=data.FileSpec("cifar-10-binary.tar.gz", md5 or hashlib.md5(payload).hexdigest(), size=len(payload)),
        mirrors=("http://127.0.0.1:9/",), homepage="http://example.invalid/",
    )


@pytest.fixture(autouse=True)
def no_local_mirror(monkeypatch):
    monkeypatch.delenv(data.MIRROR_ENV, raising=False)


def test_archive_on_disk_reads_as_colour_images_channels_last(tmp_path):
    payload, truth = make_archive()
    (tmp_path / cifar.NAME).mkdir()
    (tmp_path / cifar.NAME / "cifar-10-binary.tar.gz").write_bytes(payload)

    ds = cifar.load_cifar10(data_dir=tmp_path)

    assert ds.name == "cifar10" and ds.title == "CIFAR-10"
    assert ds.train_images.shape == (15, 32, 32, 3) and ds.train_images.dtype == np.uint8
    assert ds.test_images.shape == (4, 32, 32, 3)
    expected_train = np.concatenate([truth[name][0] for name in cifar.TRAIN_FILES])
    np.testing.assert_array_equal(ds.train_images, expected_train)
    np.testing.assert_array_equal(ds.test_labels, truth[cifar.TEST_FILE][1])
    assert ds.class_names[:2] == ("plane", "car")  # read from batches.meta.txt
    assert (tmp_path / cifar.NAME / cifar.FOLDER / cifar.TEST_FILE).is_file()
    # A second load reads the extracted files and needs no archive.
    (tmp_path / cifar.NAME / "cifar-10-binary.tar.gz").unlink()
    np.testing.assert_array_equal(cifar.load_cifar10(data_dir=tmp_path).test_images, ds.test_images)


def test_download_from_a_mirror_checks_extracts_and_caches(tmp_path, server):  # noqa: F811
    payload, truth = make_archive()
    server.files["/ok/cifar-10-binary.tar.gz"] = payload
    seen: list[data.DownloadProgress] = []

    ds = cifar.load_cifar10(data_dir=tmp_path, download=True, progress=seen.append,
                            mirrors=[server.url + "/ok/"], spec=spec_for(payload))

    np.testing.assert_array_equal(ds.test_images, truth[cifar.TEST_FILE][0])
    assert seen[-1].done_bytes == len(payload) and seen[-1].filename == "cifar-10-binary.tar.gz"
    folder = tmp_path / cifar.NAME
    assert not list(folder.glob("*.part")) and not (folder / "cifar-10-binary.tar.gz").exists()
    requests = len(server.requests)
    cifar.load_cifar10(data_dir=tmp_path, download=True, mirrors=[server.url + "/ok/"], spec=spec_for(payload))
    assert len(server.requests) == requests  # the cache answered


def test_local_mirror_is_tried_first(tmp_path, server, monkeypatch):  # noqa: F811
    payload, _ = make_archive()
    server.files["/class/cifar10/cifar-10-binary.tar.gz"] = payload
    monkeypatch.setenv(data.MIRROR_ENV, server.url + "/class/")

    cifar.load_cifar10(data_dir=tmp_path, download=True, mirrors=[server.url + "/public/"], spec=spec_for(payload))

    assert [path for path, _ in server.requests] == ["/class/cifar10/cifar-10-binary.tar.gz"]


def test_a_cut_download_keeps_its_part_and_resumes_from_it(tmp_path, server):  # noqa: F811
    payload, truth = make_archive()
    server.files["/ok/cifar-10-binary.tar.gz"] = payload
    server.cut_after["/ok/cifar-10-binary.tar.gz"] = len(payload) // 2
    spec = spec_for(payload)

    with pytest.raises(data.DownloadError, match="resumes from there"):
        cifar.load_cifar10(data_dir=tmp_path, download=True, mirrors=[server.url + "/ok/"], spec=spec)
    part = tmp_path / cifar.NAME / "cifar-10-binary.tar.gz.part"
    assert part.stat().st_size == len(payload) // 2

    ds = cifar.load_cifar10(data_dir=tmp_path, download=True, mirrors=[server.url + "/ok/"], spec=spec)

    assert server.requests[-1] == ("/ok/cifar-10-binary.tar.gz", f"bytes={len(payload) // 2}-")
    np.testing.assert_array_equal(ds.test_labels, truth[cifar.TEST_FILE][1])


def test_a_bad_checksum_is_refused_and_nothing_is_kept(tmp_path, server):  # noqa: F811
    payload, _ = make_archive()
    server.files["/ok/cifar-10-binary.tar.gz"] = payload

    with pytest.raises(data.ChecksumError, match="md5 expected 0{32}"):
        cifar.load_cifar10(data_dir=tmp_path, download=True, mirrors=[server.url + "/ok/"],
                           spec=spec_for(payload, md5="0" * 32))

    assert not any(p.is_file() for p in (tmp_path / cifar.NAME).rglob("*"))
    assert cifar.find_folder(tmp_path) is None


def test_not_downloaded_says_where_to_put_it(tmp_path):
    with pytest.raises(data.DatasetNotFoundError, match="cifar-10-binary.tar.gz"):
        cifar.load_cifar10(data_dir=tmp_path)


def test_a_truncated_archive_is_named_and_leaves_no_half_extraction(tmp_path):
    payload, _ = make_archive()
    archive = tmp_path / "cifar-10-binary.tar.gz"
    archive.write_bytes(payload[: len(payload) // 2])

    with pytest.raises(data.DataError, match=r"cifar-10-binary.tar.gz: the archive is truncated or corrupt"):
        cifar.load_cifar10(data_dir=tmp_path)

    assert cifar.find_folder(tmp_path) is None
    assert not (tmp_path / cifar.NAME / cifar.FOLDER).exists()


def test_an_archive_without_a_record_file_says_which(tmp_path):
    payload, _ = make_archive(drop="data_batch_3.bin")
    (tmp_path / "cifar-10-binary.tar.gz").write_bytes(payload)

    with pytest.raises(data.DataError, match="lacks cifar-10-batches-bin/data_batch_3.bin"):
        cifar.load_cifar10(data_dir=tmp_path)


def test_a_record_file_of_the_wrong_length_is_named(tmp_path):
    payload, _ = make_archive()
    (tmp_path / "cifar-10-binary.tar.gz").write_bytes(payload)
    folder = cifar.load_cifar10(data_dir=tmp_path) and cifar.find_folder(tmp_path)
    broken = folder / "data_batch_2.bin"
    broken.write_bytes(broken.read_bytes()[:-100])

    with pytest.raises(data.DataError, match=r"data_batch_2.bin: 9,119 bytes is not a whole number of CIFAR-10 records"):
        cifar.load_cifar10(data_dir=tmp_path)


def test_members_outside_the_expected_names_are_never_written(tmp_path):
    evil = {"../escaped.bin": b"x" * 10, f"{cifar.FOLDER}/../../escaped2.bin": b"y" * 10, "/tmp/absolute.bin": b"z"}
    payload, _ = make_archive(extra=evil)
    (tmp_path / "inner").mkdir()
    (tmp_path / "inner" / "cifar-10-binary.tar.gz").write_bytes(payload)

    cifar.load_cifar10(data_dir=tmp_path / "inner")

    assert not (tmp_path / "escaped.bin").exists() and not (tmp_path / "escaped2.bin").exists()
    written = sorted(p.name for p in (tmp_path / "inner" / cifar.NAME / cifar.FOLDER).iterdir())
    assert written == sorted([*RECORDS, cifar.META_FILE])
