#!/usr/bin/env bash
# Reproduces the latent-size-8 MNIST checkpoints of the concept lab's "Larger
# latent spaces" experiment (resources/models/mnist/vae8.pt and ae8.pt) with the
# project's own CLI.
#
#   scripts/train_lab_latent.sh [DATA_DIR]     (default: ../shared/data/mnist)
#
# Both then go on for 15 epochs with writer augmentation (models/augment.py: three
# quarters of every batch seen as another writer and scanner would have made it, from
# four distorted copies of the training set), which lifts their vote on the stand-in
# for other writers (README). About 20 minutes with one CPU thread; a GPU is picked up
# automatically.
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:-../shared/data/mnist}"
out=resources/models/mnist
mkdir -p "$out"
py="${PYTHON:-python}"
threads=(${THREADS:+--threads "$THREADS"})

"$py" main.py train --model vae --data-dir "$data" --latent 8 --epochs 50 "${threads[@]}" --out "$out/vae8.pt"
"$py" main.py train --model ae  --data-dir "$data" --latent 8 --epochs 30 "${threads[@]}" --out "$out/ae8.pt"
tune=("$py" main.py train --data-dir "$data" --lr 3e-4 --epochs 15 --augment 0.75 --augment-copies 4 "${threads[@]}")
"${tune[@]}" --model vae --latent 8 --init "$out/vae8.pt" --out "$out/vae8.pt"
"${tune[@]}" --model ae  --latent 8 --init "$out/ae8.pt" --out "$out/ae8.pt"
