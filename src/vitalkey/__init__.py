"""VitalKey account server."""
