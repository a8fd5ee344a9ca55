#!/usr/bin/env bash
# Reproduces the bundled pretrained MNIST checkpoints in resources/models/mnist
# with the project's own CLI, then prints their test figures.
#
#   scripts/train_bundled.sh [DATA_DIR]     (default: ../shared/data/mnist)
#
# About 30 minutes on a 2-core laptop CPU; a GPU is picked up automatically.
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:-../shared/data/mnist}"
out=resources/models/mnist
mkdir -p "$out"
py="${PYTHON:-python}"

"$py" main.py train --model vae    --data-dir "$data" --latent 2  --epochs 100 --out "$out/vae.pt"
"$py" main.py train --model ae     --data-dir "$data" --latent 2  --epochs 50 --out "$out/ae.pt"
"$py" main.py train --model linear --data-dir "$data" --latent 2  --epochs 10 --lr 3e-3 --out "$out/linear.pt"
"$py" main.py train --model dae    --data-dir "$data" --latent 32 --epochs 30 --noise gaussian --noise-level 0.5 --out "$out/dae.pt"

"$py" main.py eval --data-dir "$data" --json | tee "$out/eval.json"
