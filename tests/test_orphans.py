"""Killing the app during a training run leaves no process behind.

The app is started as a user would (``python main.py ...``) and killed for real; its
processes are found through /proc, so these tests run on Linux only.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

# Every test here starts a process (the app, or a parent of a training run).
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds processes through /proc"),
]

ROOT = Path(__file__).resolve().parents[1]
# A child must be gone this long after its parent ended (the requirement).
GONE_WITHIN_S = 3.0


def _env(tmp_path: Path) -> dict[str, str]:
    """The app's caches, settings, data and runs all under tmp_path."""
    env = dict(os.environ)
    for key in ("QT_QPA_PLATFORM", "QT_QPA_PLATFORM_PLUGIN_PATH"):
        env.pop(key, None)  # --screenshot chooses offscreen itself
    home = tmp_path / "home"
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_CACHE_HOME=str(home / ".cache"),
        LATENT_EXPLORER_CACHE=str(tmp_path / "cache"),
        LATENT_EXPLORER_DATA=str(tmp_path / "datasets"),
        PYTHONPATH=os.pathsep.join([str(ROOT / "tests"), str(ROOT)]),
    )
    return env


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def _children(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and int(fields[1]) == pid:
                kids.append(int(entry.name))
    return kids


def _alive(pid: int) -> bool:
    # A zombie holds no memory: it has exited and waits only for its new parent to reap it.
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _still_alive_after(pids: list[int], timeout: float) -> list[int]:
    """Polls until every pid is gone or the time is up; returns those left."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = [p for p in pids if _alive(p)]
        if not left:
            return []
        time.sleep(0.02)
    return [p for p in pids if _alive(p)]


@pytest.fixture
def started():
    """Processes a test started or found under them; any still alive at the end are killed."""
    procs: list[subprocess.Popen] = []
    pids: list[int] = []
    yield procs, pids
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait(10)
        for stream in (p.stdout, p.stderr):
            if stream is not None:
                stream.close()
    for pid in pids:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def _start_training_app(tmp_path: Path, started) -> tuple[subprocess.Popen, int, list[int]]:
    """The issue's repro: the app offscreen on the Train panel, a run going for a minute.
    Returns the app, its training child and all its children."""
    procs, pids = started
    app = subprocess.Popen(
        [sys.executable, "main.py", "--screenshot", str(tmp_path / "shot.png"), "--panel", "train", "--train-for", "60"],
        cwd=ROOT, env=_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    procs.append(app)

    def training_child():
        if app.poll() is not None:
            raise AssertionError(f"the app ended early ({app.returncode}): {app.stderr.read().decode()[-2000:]}")
        return [c for c in _children(app.pid) if b"spawn_main" in _cmdline(c)]

    child = _wait_for(training_child, 60, "the app's training process")[0]
    kids = _children(app.pid)  # the training child, and multiprocessing's resource tracker
    pids.extend(kids)
    return app, child, kids


def test_app_killed_with_sigkill_leaves_no_training_process(tmp_path, started):
    app, child, kids = _start_training_app(tmp_path, started)
    assert _alive(child)
    app.send_signal(signal.SIGKILL)
    app.wait(10)
    left = _still_alive_after(kids, GONE_WITHIN_S)
    assert not left, f"still running {GONE_WITHIN_S} s after the app was killed: {[_cmdline(p)[:80] for p in left]}"


@pytest.mark.parametrize(("signame", "code"), [("SIGTERM", 128 + 15), ("SIGINT", 128 + 2)])
def test_app_closes_on_sigterm_or_sigint_like_the_close_button(tmp_path, started, signame, code):
    app, child, kids = _start_training_app(tmp_path, started)
    app.send_signal(getattr(signal, signame))
    # The window closes as its close button would: the run is stopped and joined.
    returncode = app.wait(15)
    stderr = app.stderr.read().decode()
    assert returncode == code, stderr[-2000:]
    assert "Traceback" not in stderr
    assert not (tmp_path / "shot.png").exists()  # the picture was not due yet
    left = _still_alive_after(kids, GONE_WITHIN_S)
    assert not left, f"still running after the app closed: {[_cmdline(p)[:80] for p in left]}"


PARENT = textwrap.dedent(
    """
    import multiprocessing as mp, sys
    from models.jobs import ImageArrays, JobStarted, ModelSnapshot, TrainJob, run_job
    from models.nets import NetConfig
    from models.train import TrainConfig
    from synthetic import labelled_blobs

    if __name__ == "__main__":
        x, labels = labelled_blobs(512)
        job = TrainJob(configs=(NetConfig(kind="ae", hidden=(64,)), NetConfig(kind="vae", hidden=(64,))),
                       train=TrainConfig(epochs=100000, batch_size=32), data_source=ImageArrays(x, x[:100], labels[:100]),
                       probe_count=100, snapshot_interval_s=0.05, threads=1, out_dir=sys.argv[1])
        ctx = mp.get_context("spawn")
        queue, stop, pause = ctx.Queue(), ctx.Event(), ctx.Event()
        if sys.argv[2] == "paused":
            pause.set()
        child = ctx.Process(target=run_job, args=(job, queue, stop, pause), daemon=True)
        child.start()
        while not isinstance(queue.get(timeout=60), JobStarted):
            pass
        print(child.pid, flush=True)
        # Never read again: the snapshots fill the pipe, as when the app is killed.
        child.join()
    """
)


@pytest.mark.parametrize("state", ["running", "paused"])
def test_orphaned_training_process_saves_and_exits(tmp_path, started, state):
    """Under the app: the orphaned run stops after its batch, saves what it has (as
    the Stop button does) and exits, running or paused, though nobody reads its queue."""
    procs, pids = started
    out = tmp_path / "run"
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(out), state], cwd=ROOT, env=_env(tmp_path),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    procs.append(parent)
    line = parent.stdout.readline()
    assert line.strip().isdigit(), parent.stderr.read()[-2000:]
    child = int(line)
    kids = _children(parent.pid)
    pids.extend(kids)
    assert child in kids
    parent.send_signal(signal.SIGKILL)
    parent.wait(10)
    left = _still_alive_after(kids, GONE_WITHIN_S)
    assert not left, f"still running {GONE_WITHIN_S} s after its parent was killed: {[_cmdline(p)[:80] for p in left]}"
    from models.checkpoint import load_checkpoint

    for kind in ("ae", "vae"):
        ck = load_checkpoint(out / f"{kind}.pt", expect_kind=kind)
        assert ck.meta["status"] == "stopped early"
    assert not list(out.glob(".*.tmp")), "a save was cut short"
