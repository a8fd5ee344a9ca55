"""Test configuration: Qt runs offscreen and torch stays on the CPU."""
import os

# Must be set before any Qt import so tests never need a display.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("LATENT_EXPLORER_DEVICE", "cpu")
