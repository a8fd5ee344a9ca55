"""Rebuild resources/data/DATASET/ (a bundled test set) from any copy of the dataset.

    python scripts/make_bundled_subset.py [MNIST_DIR]     (default: ../shared/data/mnist)
    python scripts/make_bundled_subset.py --dataset fashion-mnist [DIR]   (default: ../shared/data/fashion-mnist)

The test images and labels are checked against the official release (md5 of the
decompressed IDX bytes) and written gzipped with a zero timestamp, so the bundled
files come out byte for byte the same whichever copy of MNIST they are made from.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from models import data  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", nargs="?", type=Path, default=None, help="default: ../shared/data/DATASET")
    parser.add_argument("--dataset", choices=data.BUNDLED_DATASETS, default="mnist")
    parser.add_argument("--out", type=Path, default=None, help="default: resources/data/DATASET")
    args = parser.parse_args(argv)
    source = args.source or ROOT.parent / "shared" / "data" / args.dataset
    out_dir = args.out or ROOT / "resources" / "data" / args.dataset

    spec = data.get_spec(args.dataset)
    files = data.find_dataset_files(args.dataset, source)
    if files is None:
        parser.error(f"no {spec.title} files in {source}")
    for role in ("test_images", "test_labels"):
        raw = files[role].read_bytes()
        content = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
        digest = hashlib.md5(content).hexdigest()
        expected = spec.files[role].content_md5
        if digest != expected:
            print(f"{files[role]}: not the official {spec.title} file (md5 of its IDX bytes {digest}, expected {expected})")
            return 1
        # Validates the header and size before anything is written.
        array = data.read_idx(files[role])
        out = data.write_idx(out_dir / spec.files[role].filename, array, gzip=True)
        print(f"{out}: {array.shape}, {out.stat().st_size} bytes, sha256 {hashlib.sha256(out.read_bytes()).hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
