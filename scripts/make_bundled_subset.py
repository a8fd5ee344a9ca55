"""Rebuild resources/data/mnist/ (the bundled MNIST test set) from any copy of MNIST.

    python scripts/make_bundled_subset.py [MNIST_DIR]     (default: ../shared/data/mnist)

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
    parser.add_argument("source", nargs="?", type=Path, default=ROOT.parent / "shared" / "data" / "mnist")
    parser.add_argument("--out", type=Path, default=ROOT / "resources" / "data" / "mnist")
    args = parser.parse_args(argv)

    files = data.find_dataset_files("mnist", args.source)
    if files is None:
        parser.error(f"no MNIST files in {args.source}")
    spec = data.get_spec("mnist")
    for role in ("test_images", "test_labels"):
        raw = files[role].read_bytes()
        content = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
        digest = hashlib.md5(content).hexdigest()
        expected = spec.files[role].content_md5
        if digest != expected:
            print(f"{files[role]}: not the official MNIST file (md5 of its IDX bytes {digest}, expected {expected})")
            return 1
        # Validates the header and size before anything is written.
        array = data.read_idx(files[role])
        out = data.write_idx(args.out / spec.files[role].filename, array, gzip=True)
        print(f"{out}: {array.shape}, {out.stat().st_size} bytes, sha256 {hashlib.sha256(out.read_bytes()).hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
