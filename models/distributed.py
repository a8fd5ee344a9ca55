"""Training under ``torchrun``: one process per GPU (or CPU worker), each training on its
own shard of every epoch and averaging gradients with DistributedDataParallel.

``torchrun`` (``python -m torch.distributed.run``) starts the processes and sets RANK,
WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; ``start_group`` reads them. Every
rank draws the same permutation of the training set each epoch (the same seed) and
takes every WORLD_SIZE-th index from its own offset, like torch's DistributedSampler:
disjoint shards that together cover the epoch (padded by wrapping around so every rank
runs the same number of steps, which DDP needs). ``--batch-size`` is per process.

Debugging aid: with $LATENT_EXPLORER_TRACE_SAMPLES=DIR each rank writes the training
indices it used, in order, to DIR/rank<R>.npy (see ``write_trace``)."""
from __future__ import annotations

import copy
import datetime
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from torch import nn

TRACE_ENV = "LATENT_EXPLORER_TRACE_SAMPLES"
# Seconds a rank waits for the others (to join, or in a collective) before it gives up,
# so that one rank's failure ends the rest instead of leaving them waiting for ever.
TIMEOUT_ENV = "LATENT_EXPLORER_DIST_TIMEOUT"
DEFAULT_TIMEOUT_S = 300.0


_M = TypeVar("_M", bound=nn.Module)


class DistributedError(RuntimeError):
    """The process group cannot start or work; the message says why."""


def _int_env(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise DistributedError(f"${name} is {value!r}, not a whole number (torchrun sets it)") from None


def requested() -> bool:
    """Whether this process was started as one of several (WORLD_SIZE above 1)."""
    size = _int_env("WORLD_SIZE")
    return size is not None and size > 1


def timeout_seconds() -> float:
    value = os.environ.get(TIMEOUT_ENV, "").strip()
    try:
        seconds = float(value) if value else DEFAULT_TIMEOUT_S
    except ValueError:
        raise DistributedError(f"${TIMEOUT_ENV} is {value!r}, not a number of seconds") from None
    if not seconds > 0:
        raise DistributedError(f"${TIMEOUT_ENV} must be a positive number of seconds, got {value}")
    return seconds


@dataclass
class Group:
    """This process's place among the ranks, and the few collective steps training uses."""

    rank: int
    world_size: int
    local_rank: int
    backend: str
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard_size(self, n: int) -> int:
        return -(-n // self.world_size)

    def shard(self, order: torch.Tensor) -> torch.Tensor:
        """This rank's share of an epoch's permutation ``order`` (the same on every rank)."""
        n = order.shape[0]
        total = self.shard_size(n) * self.world_size
        if total > n:
            order = order.repeat(-(-total // n))[:total]
        return order[self.rank : total : self.world_size]

    def wrap(self, model: _M) -> _M:
        """``model`` as the loss should call it: a shallow copy (same parameters, same
        config, still an instance of its own class, so ``losses.model_loss`` reads what
        it reads) whose forward runs through a DistributedDataParallel wrapper. DDP only
        averages the gradients of a backward pass that began in its own forward."""
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        ddp = DistributedDataParallel(model, device_ids=ids)
        view = copy.copy(model)
        # A plain attribute (not a Module) so nn.Module does not register ddp as a child.
        object.__setattr__(view, "forward", lambda *args, **kwargs: ddp(*args, **kwargs))
        object.__setattr__(view, "_ddp", ddp)
        return view

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        """The mean of ``values`` over the ranks (every rank gets it), so all of them
        report and act on the same losses: one NaN stops every rank at the same step."""
        import torch.distributed as dist

        out = values.detach().to(self.device, torch.float64).clone()
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return (out / self.world_size).cpu()

    def gather(self, value: int) -> list[int]:
        """One number from every rank, in rank order (e.g. the samples each one trained on)."""
        import torch.distributed as dist

        mine = torch.tensor([value], dtype=torch.int64, device=self.device)
        out = [torch.zeros_like(mine) for _ in range(self.world_size)]
        dist.all_gather(out, mine)
        return [int(t.item()) for t in out]

    def barrier(self) -> None:
        import torch.distributed as dist

        dist.barrier()

    def close(self) -> None:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()

    def meta(self) -> dict:
        return {"world_size": self.world_size, "backend": self.backend}


def lost_peer(exc: BaseException) -> bool:
    """Whether ``exc`` is a collective that failed because another rank stopped or
    stopped answering (gloo and NCCL raise plain RuntimeErrors for some of these)."""
    import torch.distributed as dist

    text = str(exc).lower()
    return isinstance(exc, dist.DistError) or (
        isinstance(exc, RuntimeError) and any(w in text for w in ("gloo", "nccl", "connection closed", "timed out")))


def start_group(device: torch.device) -> Group:
    """Join the process group torchrun set up: NCCL on CUDA (each rank on the GPU its
    LOCAL_RANK names), gloo on the CPU. Waits at most ``timeout_seconds()`` for the others."""
    import torch.distributed as dist

    rank, world, local = _int_env("RANK"), _int_env("WORLD_SIZE"), _int_env("LOCAL_RANK")
    if rank is None or world is None:
        raise DistributedError("RANK and WORLD_SIZE are not set; start several processes with torchrun")
    if not 0 <= rank < world:
        raise DistributedError(f"RANK {rank} is outside 0..{world - 1} (WORLD_SIZE {world})")
    local = rank if local is None else local
    if device.type == "cuda":
        if local >= torch.cuda.device_count():
            raise DistributedError(f"LOCAL_RANK {local} has no GPU: torch sees {torch.cuda.device_count()} "
                                   "on this machine; start at most that many processes per node")
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
        backend = "nccl"
    elif device.type == "cpu":
        backend = "gloo"
    else:
        raise DistributedError(f"training on several processes needs CUDA or the CPU, not {device.type}; use --device cpu")
    try:
        # device_id binds each NCCL rank to its GPU at once (its barriers then need no guess).
        dist.init_process_group(backend, rank=rank, world_size=world, timeout=datetime.timedelta(seconds=timeout_seconds()),
                                device_id=device if device.type == "cuda" else None)
    except (RuntimeError, ValueError) as exc:  # DistNetworkError and DistStoreError are RuntimeErrors
        raise DistributedError(f"rank {rank} of {world} could not join the others: {exc}".splitlines()[0]) from exc
    return Group(rank=rank, world_size=world, local_rank=local, backend=backend, device=device)


def write_trace(folder: str | os.PathLike, rank: int, indices: list[torch.Tensor]) -> Path:
    """The training indices one rank used, in order, as ``folder/rank<R>.npy``."""
    from models.files import atomic_write_bytes

    flat = torch.cat(indices).cpu().numpy().astype(np.int64) if indices else np.zeros(0, np.int64)
    buffer = io.BytesIO()
    np.save(buffer, flat, allow_pickle=False)
    path = Path(folder) / f"rank{rank}.npy"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buffer.getvalue())
    return path
