"""`main.py train` under torchrun: two processes with gloo on the CPU train one model,
each on its own half of every epoch, with gradients averaged (the result is the
one-process run with both halves in each batch), and only rank 0 saves. A rank whose
peers never come, or stop answering, ends with one error line instead of waiting."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from models import data
from models.checkpoint import load_checkpoint
from models.distributed import TIMEOUT_ENV, TRACE_ENV
from models.nets import NetConfig, build_model
from models.train import TrainConfig, Trainer

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not torch.distributed.is_available(), reason="this torch build has no torch.distributed")]

ROOT = Path(__file__).resolve().parent.parent
TRAIN = ("train", "--model", "ae", "--bundled", "--epochs", "1", "--threads", "1", "--device", "cpu")


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, LATENT_EXPLORER_DEVICE="cpu", OMP_NUM_THREADS="1")
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", data.MIRROR_ENV):
        env.pop(name, None)
    return {**env, **extra}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _one_error(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, stderr
    return lines[0]


def test_two_gloo_processes_train_disjoint_halves_and_average_their_gradients(tmp_path):
    out = tmp_path / "ae.pt"
    trace = tmp_path / "trace"
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone",
         str(ROOT / "main.py"), *TRAIN, "--batch-size", "128", "--out", str(out)],
        capture_output=True, text=True, cwd=ROOT, timeout=600, env=_env(**{TRACE_ENV: str(trace)}))
    assert run.returncode == 0, run.stderr
    # Only rank 0 reports and saves.
    assert run.stdout.count("saved ") == 1 and run.stdout.count("epoch 1/1") == 1, run.stdout
    assert "2 processes (gloo)" in run.stdout

    ck = load_checkpoint(out)
    assert ck.meta["distributed"] == {"world_size": 2, "backend": "gloo", "batch_size_per_rank": 128,
                                      "samples_per_rank": [5000, 5000]}
    ranks = [np.load(trace / f"rank{r}.npy", allow_pickle=False) for r in (0, 1)]
    assert [len(r) for r in ranks] == [5000, 5000]
    assert not np.intersect1d(ranks[0], ranks[1]).size
    assert np.array_equal(np.union1d(ranks[0], ranks[1]), np.arange(10_000))

    # Rank r's i-th batch of 128 is every other image of the one-process run's i-th
    # batch of 256 (the same permutation), so with averaged gradients the two runs take
    # the same steps: only float rounding between them. Without the averaging, rank 0
    # would have trained on its half alone, some 0.03 away in every layer.
    ds = data.load_bundled("mnist")
    config = NetConfig(kind="ae")
    model = build_model(config, data_mean=data.as_float_images(ds.train_images).mean(dim=0), seed=0)
    Trainer(model, config=TrainConfig(epochs=1, batch_size=256, seed=0, device="cpu"), train_x=ds.train_images).fit()
    for name, value in model.state_dict().items():
        assert torch.allclose(ck.model.state_dict()[name], value, atol=2e-3), name


def test_a_rank_whose_peer_never_comes_gives_up_with_one_error_line(tmp_path):
    env = _env(WORLD_SIZE="2", RANK="0", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_free_port()),
               **{TIMEOUT_ENV: "3"})
    start = time.monotonic()
    run = subprocess.run([sys.executable, str(ROOT / "main.py"), *TRAIN, "--out", str(tmp_path / "x.pt")],
                         capture_output=True, text=True, cwd=ROOT, timeout=120, env=env)
    assert run.returncode == 2
    assert "rank 0 of 2 could not join the others" in _one_error(run.stderr)
    assert time.monotonic() - start < 60
    assert not (tmp_path / "x.pt").exists()


def test_ranks_that_fall_out_of_step_end_instead_of_waiting(tmp_path):
    """Rank 1 stops after one epoch while rank 0 wants three: rank 0's next collective
    has no partner. Both must end (within the timeout) with an error line."""
    env = _env(WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_free_port()), **{TIMEOUT_ENV: "5"})
    procs = []
    for rank, epochs in ((0, "3"), (1, "1")):
        args = list(TRAIN)
        args[args.index("--epochs") + 1] = epochs
        procs.append(subprocess.Popen(
            [sys.executable, str(ROOT / "main.py"), *args, "--out", str(tmp_path / f"r{rank}.pt")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
            env={**env, "RANK": str(rank), "LOCAL_RANK": str(rank)}))
    try:
        results = [p.communicate(timeout=300) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert procs[0].returncode == 1, results[0]
    assert "rank 0 of 2 stopped: another process failed or stopped answering" in _one_error(results[0][1])
    assert not (tmp_path / "r0.pt").exists()
