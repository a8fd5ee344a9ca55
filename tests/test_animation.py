"""GIF and MP4 writing (models.animation), as a user exporting a run meets it."""
from __future__ import annotations

import numpy as np
import pytest

from models.animation import AnimationError, read_frames, write_animation


def _frames(n: int, h: int = 31, w: int = 41) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8) for _ in range(n)]


def test_a_gif_has_one_frame_per_input_frame_and_keeps_their_pixels(tmp_path):
    frames = _frames(6)
    assert write_animation(tmp_path / "run.gif", frames, fps=4) == 6
    back = read_frames(tmp_path / "run.gif")
    assert len(back) == 6
    assert back[0].shape == (31, 41, 3)
    # GIF's palette quantises colours; the frames stay distinct and close to what went in.
    assert all(np.abs(b.astype(int) - f.astype(int)).mean() < 40 for b, f in zip(back, frames, strict=True))
    assert not np.array_equal(back[0], back[1])


def test_an_mp4_has_every_frame_at_an_even_size(tmp_path):
    frames = [np.full((31, 41, 3), 40 * i, np.uint8) for i in range(5)]
    assert write_animation(tmp_path / "run.mp4", frames, fps=5) == 5
    back = read_frames(tmp_path / "run.mp4")
    assert len(back) == 5 and back[0].shape == (32, 42, 3)
    assert [round(float(f.mean()) / 40) for f in back] == [0, 1, 2, 3, 4]


def test_float_and_grey_frames_are_accepted(tmp_path):
    grey = [np.linspace(0, 1, 20 * 30).reshape(20, 30) * k for k in (0.2, 1.0)]
    assert write_animation(tmp_path / "g.gif", grey) == 2
    assert read_frames(tmp_path / "g.gif")[1].max() > 240


@pytest.mark.parametrize(
    "name, frames, words",
    [
        ("a.png", _frames(2), ".gif or .mp4"),
        ("a.gif", [], "no frames"),
        ("a.gif", [_frames(1)[0], _frames(1, 10, 10)[0]], "first frame's size"),
        ("missing/a.gif", _frames(2), "does not exist"),
    ],
)
def test_bad_targets_and_frames_say_why_and_leave_nothing_behind(tmp_path, name, frames, words):
    (tmp_path / "keep.txt").write_text("x")
    with pytest.raises(AnimationError, match=words):
        write_animation(tmp_path / name, frames)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "run.gif"
    write_animation(target, _frames(3))
    before = target.read_bytes()
    with pytest.raises(AnimationError):
        write_animation(target, [_frames(1)[0], np.zeros((5, 5, 3), np.uint8)])
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.gif"]
