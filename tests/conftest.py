"""Test configuration: Qt runs offscreen and torch stays on the CPU."""
import os
import tempfile

import pytest

# Must be set before any Qt import so tests never need a display.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("LATENT_EXPLORER_DEVICE", "cpu")
# Derived files (cached codes) go to a folder of this test run, not the user's cache.
os.environ.setdefault("LATENT_EXPLORER_CACHE", tempfile.mkdtemp(prefix="latent-explorer-test-cache-"))


@pytest.fixture
def one_thread():
    """A training test on one torch thread: on a busy two-core machine torch's own
    threads fight the other work, and a run of a few seconds took over a minute."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
