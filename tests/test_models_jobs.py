"""Training jobs run on images from an injected data source, in this process (the
controller's tests cover the spawned child)."""
from __future__ import annotations

import pickle

import numpy as np

from models import data
from models.checkpoint import load_checkpoint
from models.jobs import ImageArrays, JobFailed, JobFinished, JobStarted, TrainJob, dataset_on_disk
from models.nets import NetConfig
from models.train import TrainConfig
from synthetic import labelled_blobs, run_job_here


def _job(**fields) -> TrainJob:
    base = dict(configs=(NetConfig(kind="ae", hidden=(16,)),), train=TrainConfig(epochs=1, batch_size=32),
                probe_count=20, snapshot_interval_s=0.0, threads=1)
    base.update(fields)
    return TrainJob(**base)


def _blobs_source(job: TrainJob) -> data.Dataset:
    """A top-level function source, as a script would write one."""
    x, labels = labelled_blobs(96, seed=job.train.seed)
    return ImageArrays(x, x[:40], labels[:40], name="blobs", title="Blobs", description="ten blob positions")(job)


def test_a_job_trains_on_the_images_of_its_source_and_records_their_name(tmp_path):
    x, labels = labelled_blobs(128)
    messages = run_job_here(_job(data_source=ImageArrays(x, x[:50], labels[:50], name="mine"), out_dir=str(tmp_path)))
    assert isinstance(messages[-1], JobFinished), messages[-1]
    started = next(m for m in messages if isinstance(m, JobStarted))
    assert (started.train_count, started.test_count) == (128, 50)
    np.testing.assert_array_equal(started.probe_labels, labels[:50][started.probe_indices])
    assert load_checkpoint(tmp_path / "ae.pt").meta["dataset"] == "mine"


def test_a_function_can_be_the_source():
    messages = run_job_here(_job(data_source=_blobs_source))
    assert isinstance(messages[-1], JobFinished), messages[-1]
    started = next(m for m in messages if isinstance(m, JobStarted))
    assert started.dataset_title == "Blobs" and started.dataset_source == "ten blob positions"
    assert started.train_count == 96


def test_labels_default_to_zeros():
    x, _ = labelled_blobs(64)
    messages = run_job_here(_job(data_source=ImageArrays(x, x[:30])))
    started = next(m for m in messages if isinstance(m, JobStarted))
    assert not started.probe_labels.any() and len(started.probe_labels) == 20


def test_a_job_with_its_source_survives_pickling():
    # The controller sends the job to a spawned child, which unpickles it.
    x, labels = labelled_blobs(32)
    for source in (ImageArrays(x, x[:8], labels[:8]), _blobs_source):
        job = _job(data_source=source)
        back = pickle.loads(pickle.dumps(job))
        np.testing.assert_array_equal(back.data_source(back).train_images, job.data_source(job).train_images)
    assert pickle.loads(pickle.dumps(_job())).data_source is dataset_on_disk


def test_a_missing_dataset_on_disk_fails_the_job_with_a_message(tmp_path):
    messages = run_job_here(_job(dataset="kmnist", data_dir=str(tmp_path)))
    assert isinstance(messages[-1], JobFailed) and "Kuzushiji-MNIST was not found" in messages[-1].message


def _must_not_be_read(job: TrainJob) -> data.Dataset:
    raise AssertionError("the job read its data although it could not save")


def test_an_unwritable_out_dir_fails_the_job_before_its_data_is_read(tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("in the way")
    messages = run_job_here(_job(data_source=_must_not_be_read, out_dir=str(a_file / "runs")))
    assert len(messages) == 1 and isinstance(messages[0], JobFailed), messages
    assert "cannot save checkpoints" in messages[0].message and str(a_file) in messages[0].message


def test_a_nan_run_whose_save_fails_says_that_nothing_was_saved(tmp_path):
    x, labels = labelled_blobs(256)
    (tmp_path / "vae.pt").mkdir()  # the checkpoint's place is taken: its save fails
    job = _job(configs=(NetConfig(kind="vae", hidden=(16,)),), data_source=ImageArrays(x, x[:40], labels[:40]),
               train=TrainConfig(epochs=3, batch_size=32, lr=1e4, schedule="constant"), out_dir=str(tmp_path))
    messages = run_job_here(job)
    failed = messages[-1]
    assert isinstance(failed, JobFailed), failed
    assert "loss became" in failed.message or "became NaN" in failed.message
    assert "Saving them failed, so nothing was saved" in failed.message and "vae.pt" in failed.message
    assert failed.checkpoints == ()


def test_a_loss_that_explodes_finishes_with_a_warning(tmp_path):
    x, labels = labelled_blobs(256)
    job = _job(configs=(NetConfig(kind="linear", hidden=(16,)), NetConfig(kind="ae", hidden=(16,))),
               data_source=ImageArrays(x, x[:40], labels[:40]),
               train=TrainConfig(epochs=2, batch_size=32, lr=10, schedule="constant"), out_dir=str(tmp_path))
    finished = run_job_here(job)[-1]
    assert isinstance(finished, JobFinished), finished
    assert len(finished.warnings) == 2
    assert finished.warnings[0].startswith("Linear autoencoder: ") and finished.warnings[1].startswith("Autoencoder: ")
    assert all("diverged" in w and "learning rate (10)" in w for w in finished.warnings)
    assert len(finished.checkpoints) == 2  # still saved


def test_a_sound_run_finishes_without_warnings():
    x, labels = labelled_blobs(128)
    finished = run_job_here(_job(data_source=ImageArrays(x, x[:40], labels[:40])))[-1]
    assert isinstance(finished, JobFinished) and finished.warnings == ()
