"""Test configuration: Qt runs offscreen and torch stays on the CPU."""
import os
import tempfile

# Must be set before any Qt import so tests never need a display.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("LATENT_EXPLORER_DEVICE", "cpu")
# Derived files (cached codes) go to a folder of this test run, not the user's cache.
os.environ.setdefault("LATENT_EXPLORER_CACHE", tempfile.mkdtemp(prefix="latent-explorer-test-cache-"))
