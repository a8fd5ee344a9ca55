"""The Draw panel says what the models think a drawing is (issue #19, part 4): the vote
of the nearest test codes in each latent space, and a plain sentence when the drawing
is unlike any digit the model knows."""
from __future__ import annotations

import pytest

from explorer.panels.draw import DrawPanel
from explorer.panels.workbench import Workbench
from explorer.startup import images_context
from models.drawing import DIGIT_STROKES


@pytest.fixture(scope="module")
def models():
    from models.checkpoint import bundled_checkpoints, load_checkpoint
    from models.data import as_float_images, load_bundled
    from models.latent_space import LatentSpace

    data = load_bundled("mnist")
    x = as_float_images(data.test_images)
    ckpts = {p.stem: load_checkpoint(p) for p in bundled_checkpoints("mnist")}
    return data, [(ckpts[n], LatentSpace(ckpts[n].model, x), n.upper()) for n in ("ae", "vae")]


@pytest.fixture(scope="module")
def panel(qapp, models):
    # One panel for the module: it sets up each model's vote once (10,000 reconstructions).
    data, slots = models
    bench = Workbench(dataset=images_context(data.test_images, data.test_labels))
    bench.set_models(slots)
    p = DrawPanel(workbench=bench)
    p.resize(1200, 700)
    yield p
    p.shutdown()
    p.deleteLater()


def _draw(panel: DrawPanel, strokes) -> None:
    panel.canvas.clear()
    for points in strokes:
        panel.canvas.stroke(points)
    panel.refresh()
    panel.vote_board.wait()  # the votes are set up in the background the first time


@pytest.mark.parametrize("digit", [0, 1, 2, 3, 4, 7, 9])
def test_a_clearly_drawn_digit_is_named_by_both_models(panel, digit):
    _draw(panel, DIGIT_STROKES[digit])
    for role in ("ae", "vae"):
        verdict = panel.verdicts[role]
        assert verdict is not None and verdict.label == digit and not verdict.unusual
        assert f"Looks like a {digit}" in panel.verdict_labels[role].text().replace("<b>", "").replace("</b>", "")


@pytest.mark.parametrize("shape", {
    "a square": [[(40, 40), (240, 40), (240, 240), (40, 240), (40, 40)]],
    "a hash": [[(40, 100), (240, 100)], [(40, 180), (240, 180)], [(100, 40), (100, 240)], [(180, 40), (180, 240)]],
}.items(), ids=lambda item: item[0])
def test_a_shape_unlike_any_digit_is_called_so(panel, shape):
    _draw(panel, shape[1])
    for role in ("ae", "vae"):
        assert panel.verdicts[role].unusual
        assert "Not like any digit" in panel.verdict_labels[role].text()


def test_an_empty_canvas_says_nothing(panel):
    _draw(panel, DIGIT_STROKES[7])
    panel.canvas.clear()
    panel.refresh()
    assert all(v is None for v in panel.verdicts.values())
    assert all(label.text() == "" for label in panel.verdict_labels.values())


def test_the_first_stroke_does_not_wait_for_the_votes(qtbot, models):
    # Setting up a model's votes takes a second or two: the first reading comes at once,
    # says the votes are coming, and the verdict follows without another stroke.
    data, slots = models
    bench = Workbench(dataset=images_context(data.test_images, data.test_labels))
    bench.set_models(slots)
    p = DrawPanel(workbench=bench)
    qtbot.addWidget(p)
    for points in DIGIT_STROKES[7]:
        p.canvas.stroke(points)
    p.refresh()
    assert p.readings["vae"] is not None and p.verdicts["vae"] is None
    assert "Weighing" in p.verdict_labels["vae"].text()
    qtbot.waitUntil(lambda: p.verdicts["vae"] is not None and p.verdicts["ae"] is not None, timeout=60000)
    assert p.verdicts["vae"].label == 7 and "Looks like a 7" in p.verdict_labels["vae"].text().replace("<b>", "").replace("</b>", "")
    p.shutdown()
