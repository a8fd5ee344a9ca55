"""The window's panels, one module per panel, and what they share (the Panel protocol, the lazy registry, the workbench)."""
