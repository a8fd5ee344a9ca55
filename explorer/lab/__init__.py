"""The Lab panel (panel.py) and one module per experiment; base.py holds what the training experiments share."""
