"""``python main.py bench``: how fast the app is, as ratios against plain PyTorch
run in the same process (these machines are shared and noisy, so absolute
times alone mean little)."""
from __future__ import annotations

import json
import logging
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from models import data
from models.data import as_float_images
from models.jobs import ImageArrays
from models.nets import NetConfig, build_model
from models.train import TrainConfig, Trainer

log = logging.getLogger(__name__)

BENCH_NET = NetConfig(kind="vae", latent=2, hidden=(512, 256))
BATCH = 128
# The plain loop's (and the bench's training) thread count: what an idle run uses.
TRAIN_THREADS = min(2, os.cpu_count() or 1)


@dataclass(frozen=True)
class BenchSettings:
    quick: bool = False

    @property
    def train_steps(self) -> int:
        return 30 if self.quick else 300

    @property
    def rounds(self) -> int:
        # Alternating Trainer and plain runs; one pair's ratio moves by up to a tenth
        # with the machine's other work, the median of five much less.
        return 2 if self.quick else 5

    @property
    def in_app_rounds(self) -> int:
        # Each segment's ratio moves by several per cent with the machine's other
        # work; the median of five is steadier than of three.
        return 2 if self.quick else 5

    @property
    def in_app_seconds(self) -> float:
        return 3.0 if self.quick else 30.0


def _percentiles(values: list[float]) -> dict[str, float]:
    a = np.asarray(values, dtype=np.float64)
    return {"p50": float(np.percentile(a, 50)), "p99": float(np.percentile(a, 99))}


def _bench_images(data_dir: Path | None = None) -> tuple[np.ndarray, str]:
    """MNIST training images when on disk (in data_dir, else the cache), else the
    bundled 10,000 test images."""
    if data_dir is not None:
        ds = data.load_dataset("mnist", data_dir=data_dir)  # asked for: a missing set is an error
        return ds.train_images, ds.source
    try:
        ds = data.load_dataset("mnist")
    except data.DataError:
        ds = data.load_bundled("mnist")
    return ds.train_images, ds.source


def plain_loop_samples_per_s(x: torch.Tensor, steps: int, *, seed: int = 0) -> float:
    """The reference: the same network, batch size, optimiser and data, no frills."""
    torch.manual_seed(seed)
    model = build_model(BENCH_NET)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    n = x.shape[0]
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(n, generator=gen)
    model.train()
    t0 = time.perf_counter()
    for i in range(steps):
        j = (i * BATCH) % max(1, n - BATCH)
        b = x[order[j : j + BATCH]]
        logits, mu, logvar, _ = model(b)
        recon = torch.nn.functional.binary_cross_entropy_with_logits(logits, b, reduction="sum") / b.shape[0]
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / b.shape[0]
        loss = recon + kl
        opt.zero_grad()
        loss.backward()
        opt.step()
    return steps * BATCH / (time.perf_counter() - t0)


def trainer_samples_per_s(x: torch.Tensor, steps: int, *, seed: int = 0) -> float:
    """Our Trainer on the same work, timed over the same number of steps."""
    model = build_model(BENCH_NET)
    epochs = max(1, -(-steps * BATCH // x.shape[0]))
    trainer = Trainer(model, config=TrainConfig(epochs=epochs, batch_size=BATCH, seed=seed, device="cpu"), train_x=x)
    t0 = time.perf_counter()
    done = 0
    for info in trainer.steps():
        if hasattr(info, "samples_per_s"):
            done += 1
            if done >= steps:
                break
    return done * BATCH / (time.perf_counter() - t0)


def measure_train_ratio(x: torch.Tensor, settings: BenchSettings) -> tuple[float, float]:
    """Median over alternating runs of Trainer / plain loop; also the plain speed."""
    ratios, plain = [], []
    plain_loop_samples_per_s(x, 20)  # warm up allocator and kernels
    for r in range(settings.rounds):
        p = plain_loop_samples_per_s(x, settings.train_steps, seed=r)
        t = trainer_samples_per_s(x, settings.train_steps, seed=r)
        ratios.append(t / p)
        plain.append(p)
    return statistics.median(ratios), statistics.median(plain)


def _run_until(predicate, timeout_s: float) -> None:
    """Run the Qt event loop until predicate() is true or the time is up."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    check = QTimer()
    check.setInterval(20)
    deadline = time.monotonic() + timeout_s

    def poll() -> None:
        if predicate() or time.monotonic() > deadline:
            loop.quit()

    check.timeout.connect(poll)
    check.start()
    loop.exec()
    check.stop()


def measure_in_app(images: np.ndarray, x: torch.Tensor, settings: BenchSettings, window_factory) -> dict:
    """The Train panel's own run of the same VAE, started from its form with the main
    window shown and the panel redrawing live: its speed against the plain loop, the
    lateness of a 10 ms GUI timer meanwhile, and the threads the run settled on.

    The machine's speed drifts from minute to minute (other tenants), so the run is
    measured in segments with the plain loop in between, the run paused meanwhile
    (Pause, as in the panel); the ratio is the median of each segment's speed over
    the mean of the plain runs on either side of it.
    """
    import tempfile

    from PySide6.QtCore import QElapsedTimer, QTimer
    from PySide6.QtWidgets import QApplication

    from explorer.startup import configure_torch

    app = QApplication.instance()
    out = tempfile.TemporaryDirectory(prefix="latent-explorer-bench-")
    # The bench's images instead of a dataset on disk, and the CPU like the plain loop.
    window = window_factory(train_job_defaults=dict(
        data_source=ImageArrays(images, images[:2000]), out_dir=out.name,
        train=TrainConfig(epochs=500, batch_size=BATCH, device="cpu"),
    ))
    window.show()
    window.show_panel("train")
    app.processEvents()
    panel = window.train_panel
    form = panel.form
    form.models_combo.setCurrentIndex(form.models_combo.findData(BENCH_NET.kind))
    form.latent_spin.setValue(BENCH_NET.latent)
    form.hidden_edit.setText(", ".join(str(h) for h in BENCH_NET.hidden))
    form.batch_spin.setValue(BATCH)
    controller = panel.controller
    # (arrival time, samples trained, threads) of each snapshot.
    speeds: list[tuple[float, int, int]] = []
    controller.snapshot_changed.connect(lambda s: speeds.append((time.perf_counter(), s.step * BATCH, s.threads)))

    def plain() -> float:
        """The plain loop in this process, the run paused, on the threads it uses."""
        controller.pause()
        torch.set_num_threads(TRAIN_THREADS)
        try:
            return plain_loop_samples_per_s(x, settings.train_steps)
        finally:
            configure_torch()
            controller.resume()

    late: list[float] = []
    clock = QElapsedTimer()
    clock.start()
    timer = QTimer()
    timer.setInterval(10)
    state = {"last": None}

    def tick() -> None:
        now = clock.nsecsElapsed() / 1e6
        if state["last"] is not None:
            late.append(max(0.0, now - state["last"] - 10.0))
        state["last"] = now

    timer.timeout.connect(tick)
    try:
        if not panel.start():
            raise RuntimeError(f"the Train panel could not start: {panel.last_error}")
        # Wait for the child to be up and training (and its first thread trial over)
        # before measuring.
        _run_until(lambda: len(speeds) >= 3, 90.0)
        if len(speeds) < 3:
            raise RuntimeError("the background training run did not report progress")
        plains = [plain()]
        ratios, threads = [], []
        segment_s = settings.in_app_seconds / settings.in_app_rounds
        for _ in range(settings.in_app_rounds):
            first = len(speeds)
            state["last"] = None
            timer.start()
            t_end = time.monotonic() + segment_s
            # Snapshots come every second: the segment's speed runs from its first
            # snapshot (the first batch after resuming) to its last.
            _run_until(lambda t_end=t_end, first=first: time.monotonic() >= t_end and len(speeds) >= first + 3,
                       segment_s + 60.0)
            timer.stop()
            seg = speeds[first:]
            if len(seg) < 2:
                raise RuntimeError("the background training run stopped reporting progress")
            (t_a, n_a, _), (t_b, n_b, _) = seg[0], seg[-1]
            threads += [s[2] for s in seg[1:]]
            plains.append(plain())
            ratios.append((n_b - n_a) / max(t_b - t_a, 1e-9) / statistics.mean(plains[-2:]))
    finally:
        timer.stop()
        panel.shutdown(2.0)
        window.close()
        out.cleanup()
    if len(late) < 10:
        raise RuntimeError("the GUI timer hardly ran while training")
    return {
        "in_app_train_ratio": statistics.median(ratios),
        "gui_latency_ms": _percentiles(late),
        "in_app_threads": float(max(set(threads), key=threads.count)),
    }


def _start_app(root: Path, env: dict) -> tuple[float, float]:
    """One start of the app in a fresh interpreter: seconds from launching it to the
    window's first paint and to its models being ready to decode."""
    t0 = time.time()
    out = subprocess.run([sys.executable, str(root / "main.py")], env=env, capture_output=True, text=True, timeout=120, cwd=root)
    stamps = {}
    for line in out.stdout.splitlines():
        what, _, stamp = line.partition("-wallclock ")
        if stamp:
            stamps[what] = float(stamp) - t0
    if out.returncode != 0 or not {"first-paint", "models-ready"} <= set(stamps):
        raise RuntimeError(f"the app did not start (exit {out.returncode}): {out.stderr[-800:]}")
    return stamps["first-paint"], stamps["models-ready"]


def measure_startup(root: Path, *, runs: int = 1) -> dict[str, float]:
    """Process start to the main window's first paint, each start in a fresh
    interpreter with the bundled models, default settings and a code cache of its own.

    The first start has an empty cache folder, as the first start after installing
    does (startup_cold_s); it plots the bundled models' shipped codes. Every start
    paints those codes before torch is imported and loads the models in a thread
    (startup_s: median of the ``runs`` later starts' first paints; models_ready_s:
    median of the moments their models could decode). Single starts on a shared
    machine vary by a second."""
    from explorer.app import STARTUP_PROBE_ENV
    from models.files import CACHE_ENV

    with tempfile.TemporaryDirectory(prefix="latent-explorer-bench-") as tmp:
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(Path(tmp) / "config"),
                   **{STARTUP_PROBE_ENV: "1", CACHE_ENV: str(Path(tmp) / "cache")})
        cold, _ = _start_app(root, env)
        warm = [_start_app(root, env) for _ in range(runs)]
    return {
        "startup_s": statistics.median(paint for paint, _ in warm),
        "models_ready_s": statistics.median(ready for _, ready in warm),
        "startup_cold_s": cold,
    }


def peak_rss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 1024 / 1024


def machine() -> dict:
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "device": "cpu",
        "python": platform.python_version(),
    }


def _view_point(plot, x: float, y: float):
    """Widget coordinates of plane point (x, y) on a LatentPlot's viewport."""
    import pyqtgraph as pg

    return plot.mapFromScene(plot.getPlotItem().vb.mapViewToScene(pg.Point(x, y)))


def measure_drag_decode(window, settings: BenchSettings) -> tuple[dict[str, float], dict[str, float]]:
    """Real left-button mouse moves on the VAE plot: from the move event to the
    decoded image set on its widget (the handler decodes synchronously), and to the
    window repainted with both crosshairs and decoded images (one frame of a drag)."""
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    panel = window.explore
    plot = panel.plots["right"]
    vp = plot.viewport()
    app = QApplication.instance()
    p0 = _view_point(plot, 0.0, 0.0)
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, p0)
    QTest.mouseMove(vp, p0 + QPoint(10, 10))  # past the drag threshold
    app.processEvents()
    times, frames = [], []
    rng = np.random.default_rng(0)
    n = 100 if settings.quick else 500
    for _ in range(n):
        target = _view_point(plot, *rng.uniform(-2.5, 2.5, size=2))
        t0 = time.perf_counter()
        QTest.mouseMove(vp, target)
        t1 = time.perf_counter()
        app.processEvents()  # the repaint
        times.append((t1 - t0) * 1000)
        frames.append((time.perf_counter() - t0) * 1000)
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, target)
    app.processEvents()
    return _percentiles(times), _percentiles(frames)


def measure_denoise_update(window, settings: BenchSettings) -> dict[str, float]:
    """The Denoise panel: from a level-slider change to every output (noisy input, three
    models' restorations, their PSNR captions and pass strips) set and repainted."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    window.show_panel("denoise")
    panel = window.denoise
    panel.source.set_source("test")
    panel.set_kind("gaussian")
    app.processEvents()
    slider = panel.level
    lo, hi = slider.minimum(), slider.maximum()
    times = []
    n = 60 if settings.quick else 300
    for k in range(n):
        value = lo + 1 + (k * 7) % (hi - lo - 1)
        t0 = time.perf_counter()
        slider.setValue(value)
        app.processEvents()  # paints what changed
        times.append((time.perf_counter() - t0) * 1000)
    return _percentiles(times)


def measure_inpaint_step(window, settings: BenchSettings) -> dict[str, float]:
    """The Inpaint panel: one displayed iteration (every method advanced one step,
    its image, error and curve updated and repainted), centre square hidden."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    window.show_panel("inpaint")
    panel = window.inpaint
    panel.source.set_source("test")
    panel.animate.setChecked(True)
    panel.set_preset("center_square")
    app.processEvents()
    times = []
    rounds = 4 if settings.quick else 20
    for k in range(rounds):
        panel.source.index.setValue(k)
        panel.start()  # shows step 0 of every method
        panel.pause()  # the bench drives the steps itself, without the animation's pauses
        while True:
            t0 = time.perf_counter()
            more = panel.step()
            app.processEvents()  # paints what changed
            times.append((time.perf_counter() - t0) * 1000)
            if not more:
                break
    return _percentiles(times)


def measure_scatter_fps(window, settings: BenchSettings) -> float:
    """Full redraws per second of a 10,000-point latent plot: new positions for
    every class item (as the live plots move them), then a render of the widget."""
    from explorer.widgets.latent_plot import move_points

    plot = window.explore.plots["right"]
    items = plot.scatter_items()
    base = [item.getData() for item in items]
    rng = np.random.default_rng(0)
    frames = 20 if settings.quick else 60
    plot.grab()  # first render builds caches; not counted
    t0 = time.perf_counter()
    for _ in range(frames):
        for item, (x, y) in zip(items, base, strict=True):
            jitter = rng.normal(0.0, 0.02, size=(2, len(x))).astype(np.float32)
            move_points(item, x + jitter[0], y + jitter[1])
        plot.grab()
    fps = frames / (time.perf_counter() - t0)
    for item, (x, y) in zip(items, base, strict=True):
        move_points(item, x, y)
    return fps


def run_bench(*, quick: bool, root: Path, data_dir: Path | None = None) -> dict:
    """Every measurement, as one flat-ish dict with the documented key names."""
    from PySide6.QtWidgets import QApplication

    settings = BenchSettings(quick=quick)
    torch.set_num_threads(TRAIN_THREADS)
    images, source = _bench_images(data_dir)
    x = as_float_images(images)
    train_ratio, plain_speed = measure_train_ratio(x, settings)
    results: dict = {"train_ratio": train_ratio, "plain_samples_per_s": plain_speed}

    app = QApplication.instance() or QApplication(["latent-explorer-bench"])
    from explorer.app import configure_pyqtgraph
    from explorer.startup import configure_torch, load_startup

    configure_pyqtgraph()
    configure_torch()  # the window's figures, as in the app
    from explorer.window import MainWindow

    startup = load_startup(None)

    def make_window(train_job_defaults=None):
        w = MainWindow(startup=startup, settings=None, train_job_defaults=train_job_defaults)
        w.resize(1400, 900)
        w.build_all_panels()  # now, not in the middle of a measurement
        return w

    window = make_window()
    window.show()
    app.processEvents()
    results["drag_decode_ms"], results["drag_frame_ms"] = measure_drag_decode(window, settings)
    results["scatter_fps"] = measure_scatter_fps(window, settings)
    results["denoise_update_ms"] = measure_denoise_update(window, settings)
    results["inpaint_step_ms"] = measure_inpaint_step(window, settings)
    window.close()
    results.update(measure_in_app(images, x, settings, make_window))
    results.update(measure_startup(root, runs=1 if quick else 5))
    results["peak_rss_mb"] = peak_rss_mb()
    results["machine"] = {**machine(), "data": source}
    return results


BARS = {
    "train_ratio": (">=", 0.9),
    "in_app_train_ratio": (">=", 0.85),
    "gui_latency_ms.p99": ("<", 50.0),
    "drag_decode_ms.p50": ("<", 10.0),
    "scatter_fps": (">=", 30.0),
    "denoise_update_ms.p50": ("<", 16.0),
    "inpaint_step_ms.p50": ("<", 16.0),
    "startup_s": ("<", 3.0),
}


def flatten(results: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in results.items():
        if isinstance(v, dict) and k != "machine":
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def format_table(results: dict) -> str:
    """A readable table with each figure's bar and whether it is met."""
    lines = [f"{'figure':<24} {'value':>12}   bar", "-" * 50]
    for key, value in flatten(results).items():
        if key == "machine":
            continue
        bar = BARS.get(key)
        verdict = ""
        if bar is not None:
            op, limit = bar
            ok = value >= limit if op == ">=" else value < limit
            verdict = f"{op} {limit:g}  {'ok' if ok else 'MISSED'}"
        lines.append(f"{key:<24} {value:>12.3f}   {verdict}")
    m = results.get("machine", {})
    lines.append("")
    lines.append("machine: " + ", ".join(f"{k} {v}" for k, v in m.items()))
    return "\n".join(lines)


def bench_main(*, quick: bool, as_json: bool, root: Path, data_dir: Path | None = None) -> int:
    try:
        results = run_bench(quick=quick, root=root, data_dir=data_dir)
    except data.DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(results, indent=2) if as_json else format_table(results))
    return 0
