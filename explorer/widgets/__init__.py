"""Widgets the panels are made of: latent plot, image views, drawing canvas, tabs, theme, actions."""
