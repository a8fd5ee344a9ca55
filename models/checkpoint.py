"""Checkpoints: a plain dict of tensors and JSON strings, saved atomically and
loaded with ``torch.load(weights_only=True)`` so no pickled code ever runs."""
from __future__ import annotations

import io
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from models.files import BUNDLED_KINDS, atomic_write_bytes, bundled_models_dir, content_key
from models.nets import ConfigError, Model, NetConfig, build_model

log = logging.getLogger(__name__)

FORMAT = "latent-explorer-checkpoint"
FORMAT_VERSION = 1


class CheckpointError(Exception):
    """A checkpoint that cannot be read or does not fit; the message names the file."""


@dataclass(frozen=True)
class Checkpoint:
    model: Model
    config: NetConfig
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    # "sha256:<hex>" of the file it was loaded from; names its codes in a CodeCache.
    digest: str | None = None

    @property
    def name(self) -> str:
        return self.path.name if self.path is not None else self.config.kind


def save_checkpoint(path: str | os.PathLike, model: Model, *, meta: dict[str, Any] | None = None) -> Path:
    """Save weights, config and metadata (dataset, epochs, test figures) atomically."""

    path = Path(path)
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": json.dumps(model.config.to_dict()),
        "meta": json.dumps(meta or {}),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
    }
    buf = io.BytesIO()
    torch.save(payload, buf)
    try:
        atomic_write_bytes(path, buf.getvalue())
    except OSError as exc:
        raise CheckpointError(f"could not save {path}: {exc.strerror or exc}; any previous file there is unchanged") from exc
    log.info("saved %s checkpoint to %s", model.config.kind, path)
    return path


def load_checkpoint(
    path: str | os.PathLike,
    *,
    expect_kind: str | tuple[str, ...] | None = None,
    expect_latent: int | None = None,
    device: str | torch.device = "cpu",
) -> Checkpoint:
    """Load a checkpoint safely; raise CheckpointError with a readable reason."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such file")
    if path.is_dir():
        raise CheckpointError(f"{path}: is a folder, not a checkpoint file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path.name}: the file is empty")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"{path.name}: could not be read: {exc.strerror or exc}") from exc
    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for damaged or foreign files
        raise CheckpointError(f"{path.name}: not a readable checkpoint (corrupt, truncated or another format)") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path.name}: not a Latent Explorer checkpoint")
    version = payload.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise CheckpointError(
            f"{path.name}: checkpoint format version {version} is not supported "
            f"(this version of Latent Explorer reads version {FORMAT_VERSION}); update the app"
        )
    try:
        config = NetConfig.from_dict(json.loads(payload["config"]))
        meta = json.loads(payload.get("meta", "{}"))
        state = payload["state_dict"]
    except (KeyError, TypeError, ValueError, ConfigError) as exc:
        raise CheckpointError(f"{path.name}: the checkpoint's configuration is damaged: {exc}") from exc
    if expect_kind is not None:
        kinds = (expect_kind,) if isinstance(expect_kind, str) else tuple(expect_kind)
        if config.kind not in kinds:
            raise CheckpointError(f"{path.name}: holds a {config.title.lower()} ({config.kind}), expected {' or '.join(kinds)}")
    if expect_latent is not None and config.latent != expect_latent:
        raise CheckpointError(
            f"{path.name}: checkpoint was trained for latent size {config.latent}, this model has {expect_latent}"
        )
    # Built without storage: random initial weights would be thrown away at once (half
    # the time of loading a bundled model); the loaded tensors become the parameters.
    with torch.device("meta"):
        model = build_model(config)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path.name}: the weights are damaged")
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{path.name}: weights do not match a {config.kind} with hidden sizes {list(config.hidden)} "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    for k, v in expected.items():
        # Checked before anything computes with them: a float64 weight fails deep in a
        # matmul and an int64 one in load_state_dict, neither message naming the tensor.
        if state[k].dtype != v.dtype:
            raise CheckpointError(f"{path.name}: weight {k} is {_dtype_name(state[k].dtype)}, expected {_dtype_name(v.dtype)}")
        if tuple(state[k].shape) != tuple(v.shape):
            raise CheckpointError(
                f"{path.name}: weight {k} has shape {tuple(state[k].shape)}, expected {tuple(v.shape)} "
                f"(a {config.kind} with latent size {config.latent} and hidden sizes {list(config.hidden)})"
            )
        if not torch.isfinite(state[k]).all():
            raise CheckpointError(f"{path.name}: weight {k} holds NaN or infinite values")
    try:
        model.load_state_dict({k: v.contiguous() for k, v in state.items()}, assign=True)
    except RuntimeError as exc:  # anything the checks above did not foresee still names the file
        raise CheckpointError(f"{path.name}: the weights do not fit the model: {exc}") from exc
    model.to(device).eval()
    return Checkpoint(model=model, config=config, meta=meta, path=path, digest=content_key(data))


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def bundled_checkpoints(dataset: str = "mnist") -> list[Path]:
    """The bundled checkpoint files that exist, in the order of BUNDLED_KINDS."""
    folder = bundled_models_dir(dataset)
    return [folder / f"{kind}.pt" for kind in BUNDLED_KINDS if (folder / f"{kind}.pt").is_file()]
