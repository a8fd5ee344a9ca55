"""The training child process's entry point, which imports nothing heavy itself.

Unpickling a job (``models.jobs.TrainJob``) imports torch, which takes seconds; an app
killed in those seconds must not leave the child behind either, so the job arrives
pickled and the child watches its parent before unpickling it.
"""
from __future__ import annotations

import pickle

from models.parent_watch import ParentWatch


def run_job_watched(job_payload: bytes, queue, stop_event, pause_event, pacing=None) -> None:
    """Watch the parent (models.parent_watch), then unpickle the job and run it
    (models.jobs.run_job); ``pacing``: the parent's models.pacing.PaceControls."""
    watch = ParentWatch(on_gone=queue.cancel_join_thread).start()
    from models.jobs import run_job

    run_job(pickle.loads(job_payload), queue, stop_event, pause_event, orphaned=watch.gone, pacing=pacing)
