"""Rendering and delivering mail."""
