"""Checkpoints: round trip, atomic saving, and a clear message for every kind of
bad file instead of a crash (or pickled code running)."""
import errno
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from models import checkpoint
from models.checkpoint import (
    FORMAT,
    FORMAT_VERSION,
    CheckpointError,
    bundled_checkpoints,
    load_checkpoint,
    save_checkpoint,
)
from models.nets import KINDS, VAE, NetConfig, build_model

HIDDEN = (32, 16)


def tiny(kind: str = "ae", latent: int = 2, seed: int = 0):
    torch.manual_seed(seed)
    return build_model(NetConfig(kind=kind, latent=latent, hidden=HIDDEN)).eval()


def payload_for(model, **changes):
    """The dict save_checkpoint writes, built by hand so tests can damage it."""
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": json.dumps(model.config.to_dict()),
        "meta": json.dumps({}),
        "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()},
    }
    payload.update(changes)
    return payload


def write_payload(path: Path, payload) -> Path:
    torch.save(payload, path)
    return path


def _images(n=5):
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(0))


# ---------------------------------------------------------------- round trip


@pytest.mark.parametrize("kind", KINDS)
def test_round_trip_keeps_outputs_config_and_meta(tmp_path, kind):
    model = tiny(kind, latent=3)
    meta = {"dataset": "synthetic", "epochs": 4, "test": {"mse": 0.0123}, "note": "ünïcode"}
    path = save_checkpoint(tmp_path / f"{kind}.pt", model, meta=meta)
    assert path.is_file()

    ckpt = load_checkpoint(path)
    assert ckpt.config == model.config
    assert ckpt.meta == meta
    assert ckpt.path == path and ckpt.name == f"{kind}.pt"
    assert type(ckpt.model) is type(model)
    assert not ckpt.model.training

    x = _images()
    z = torch.randn(4, 3)
    with torch.no_grad():
        assert torch.equal(ckpt.model.embed(x), model.embed(x))
        assert torch.equal(ckpt.model.decode(z), model.decode(z))
        assert torch.equal(ckpt.model.reconstruct(x), model.reconstruct(x))
        if isinstance(model, VAE):
            a, b = ckpt.model.encode(x), model.encode(x)
            assert torch.equal(a[1], b[1])  # logvar too


def test_round_trip_of_a_modified_model_keeps_the_new_weights(tmp_path):
    model = tiny("ae")
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1.5)
    ckpt = load_checkpoint(save_checkpoint(tmp_path / "m.pt", model))
    for (k, a), b in zip(model.state_dict().items(), ckpt.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), k


def test_save_creates_missing_folders_and_meta_defaults_to_empty(tmp_path):
    path = tmp_path / "deep" / "er" / "model.pt"
    save_checkpoint(path, tiny())
    assert load_checkpoint(path).meta == {}


def test_loaded_checkpoint_checks_kind(tmp_path):
    path = save_checkpoint(tmp_path / "ae.pt", tiny("ae"))
    assert load_checkpoint(path, expect_kind=("ae", "dae")).config.kind == "ae"
    with pytest.raises(CheckpointError, match=r"ae\.pt.*autoencoder.*expected vae"):
        load_checkpoint(path, expect_kind="vae")


def test_saving_over_a_checkpoint_replaces_it(tmp_path):
    path = tmp_path / "m.pt"
    save_checkpoint(path, tiny("ae"))
    save_checkpoint(path, tiny("vae", latent=4))
    ckpt = load_checkpoint(path)
    assert ckpt.config.kind == "vae" and ckpt.config.latent == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]


# ------------------------------------------------------------- atomic saving


def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("failing", ["replace", "fsync"])
def test_failed_save_leaves_the_previous_file_untouched(tmp_path, monkeypatch, failing):
    path = tmp_path / "model.pt"
    save_checkpoint(path, tiny("ae"), meta={"version": "old"})
    before = path.read_bytes()

    monkeypatch.setattr(os, failing, _no_space)
    with pytest.raises(CheckpointError, match="No space left on device") as info:
        save_checkpoint(path, tiny("vae", seed=1), meta={"version": "new"})
    monkeypatch.undo()

    assert "model.pt" in str(info.value) and "unchanged" in str(info.value)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]  # no temporary files left
    assert load_checkpoint(path).meta == {"version": "old"}


def test_failed_first_save_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "replace", _no_space)
    with pytest.raises(CheckpointError):
        save_checkpoint(tmp_path / "model.pt", tiny())
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_save_to_an_unwritable_place_is_a_checkpoint_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(CheckpointError, match="could not save"):
        save_checkpoint(blocker / "model.pt", tiny())


# ---------------------------------------------------------------- bad files


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match=r"nope\.pt: no such file"):
        load_checkpoint(tmp_path / "nope.pt")


def test_folder_instead_of_file(tmp_path):
    with pytest.raises(CheckpointError, match="folder"):
        load_checkpoint(tmp_path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.pt"
    path.write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"empty\.pt: the file is empty"):
        load_checkpoint(path)


def test_truncated_file(tmp_path):
    good = save_checkpoint(tmp_path / "good.pt", tiny())
    data = good.read_bytes()
    path = tmp_path / "half.pt"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"half\.pt: not a readable checkpoint.*truncated"):
        load_checkpoint(path)


def test_random_bytes(tmp_path):
    path = tmp_path / "noise.pt"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 10_000, dtype=np.uint8).tobytes())
    with pytest.raises(CheckpointError, match=r"noise\.pt: not a readable checkpoint"):
        load_checkpoint(path)


def test_a_text_file(tmp_path):
    path = tmp_path / "notes.pt"
    path.write_text("these are not weights\n")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(path)


def test_plain_tensor_is_not_our_format(tmp_path):
    path = write_payload(tmp_path / "tensor.pt", torch.zeros(3, 3))
    with pytest.raises(CheckpointError, match=r"tensor\.pt: not a Latent Explorer checkpoint"):
        load_checkpoint(path)


def test_plain_state_dict_is_not_our_format(tmp_path):
    path = write_payload(tmp_path / "sd.pt", tiny().state_dict())
    with pytest.raises(CheckpointError, match="not a Latent Explorer checkpoint"):
        load_checkpoint(path)


def test_newer_format_version(tmp_path):
    path = write_payload(tmp_path / "future.pt", payload_for(tiny(), format_version=99))
    with pytest.raises(CheckpointError, match=r"future\.pt: checkpoint format version 99 is not supported") as info:
        load_checkpoint(path)
    assert "update" in str(info.value)


def test_weights_of_the_wrong_shape(tmp_path):
    config_says_2 = tiny(latent=2)
    weights_from_3 = tiny(latent=3)
    path = write_payload(
        tmp_path / "mixed.pt",
        payload_for(config_says_2, state_dict=dict(weights_from_3.state_dict())),
    )
    with pytest.raises(CheckpointError, match=r"mixed\.pt: weight .* has shape .*3.*expected .*2"):
        load_checkpoint(path)


def test_weights_of_another_architecture(tmp_path):
    path = write_payload(tmp_path / "arch.pt", payload_for(tiny("ae"), state_dict=dict(tiny("vae").state_dict())))
    with pytest.raises(CheckpointError, match=r"arch\.pt: weights do not match an? ae"):
        load_checkpoint(path)


def test_config_with_an_unknown_kind(tmp_path):
    config = tiny().config.to_dict()
    config["kind"] = "transformer"
    path = write_payload(tmp_path / "kind.pt", payload_for(tiny(), config=json.dumps(config)))
    with pytest.raises(CheckpointError, match=r"kind\.pt: .*configuration is damaged.*'transformer'"):
        load_checkpoint(path)


def test_config_with_a_fractional_latent_size(tmp_path):
    config = tiny().config.to_dict()
    config["latent"] = 2.5
    path = write_payload(tmp_path / "frac.pt", payload_for(tiny(), config=json.dumps(config)))
    with pytest.raises(CheckpointError, match=r"frac\.pt: .*configuration is damaged.*latent size"):
        load_checkpoint(path)


def test_config_that_is_not_json(tmp_path):
    path = write_payload(tmp_path / "cfg.pt", payload_for(tiny(), config="{kind: ae"))
    with pytest.raises(CheckpointError, match="configuration is damaged"):
        load_checkpoint(path)


def test_missing_weights(tmp_path):
    payload = payload_for(tiny())
    del payload["state_dict"]
    path = write_payload(tmp_path / "noweights.pt", payload)
    with pytest.raises(CheckpointError, match=r"noweights\.pt"):
        load_checkpoint(path)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights(tmp_path, bad):
    model = tiny("vae")
    state = {k: v.clone() for k, v in model.state_dict().items()}
    name = next(iter(state))
    state[name].view(-1)[0] = bad
    path = write_payload(tmp_path / "nan.pt", payload_for(model, state_dict=state))
    with pytest.raises(CheckpointError, match=rf"nan\.pt: weight {name} holds NaN or infinite values"):
        load_checkpoint(path)


def test_checkpoint_for_another_latent_size(tmp_path):
    path = save_checkpoint(tmp_path / "two.pt", tiny(latent=2))
    with pytest.raises(CheckpointError, match="trained for latent size 2") as info:
        load_checkpoint(path, expect_latent=10)
    assert "10" in str(info.value) and "two.pt" in str(info.value)
    assert load_checkpoint(path, expect_latent=2).config.latent == 2


# ------------------------------------------------------------ pickled code

def _touch(path):
    Path(path).write_text("code ran")
    return {}


class Exploit:
    """Unpickling this with plain pickle runs _touch."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (_touch, (str(self.marker),))


class Harmless:
    def __init__(self):
        self.value = 3


@pytest.mark.parametrize("where", ["meta", "state_dict", "extra"])
def test_pickled_objects_are_refused_without_running_code(tmp_path, where):
    marker = tmp_path / "pwned"
    model = tiny()
    payload = payload_for(model)
    if where == "meta":
        payload["meta"] = Exploit(marker)
    elif where == "state_dict":
        payload["state_dict"]["encoder.0.weight"] = Exploit(marker)
    else:
        payload["extra"] = Exploit(marker)
    path = write_payload(tmp_path / "evil.pt", payload)

    with pytest.raises(CheckpointError, match=r"evil\.pt"):
        load_checkpoint(path)
    assert not marker.exists()

    # the file really carries code: an unsafe load would have run it
    torch.load(io.BytesIO(path.read_bytes()), weights_only=False)
    assert marker.read_text() == "code ran"


def test_custom_class_instance_is_refused(tmp_path):
    path = write_payload(tmp_path / "obj.pt", payload_for(tiny(), meta=Harmless()))
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(path)


# ------------------------------------------------------------------ bundled


def test_bundled_checkpoints_is_a_list_of_loadable_files():
    found = bundled_checkpoints()
    assert isinstance(found, list)
    assert all(p.is_file() and p.suffix == ".pt" for p in found)
    for path in found:
        ckpt = load_checkpoint(path, expect_kind=path.stem.split("_")[0])  # dae_masking is a DAE
        x = torch.rand(2, 784)
        with torch.no_grad():
            out = ckpt.model.reconstruct(x)
        assert out.shape == (2, ckpt.config.pixels) and torch.isfinite(out).all()


def test_bundled_checkpoints_of_an_unknown_dataset_is_empty():
    assert bundled_checkpoints("no-such-dataset") == []
    assert checkpoint.bundled_models_dir("mnist").name == "mnist"
