"""Health2Go, the reference partner portal of the "Link Device" article.

A separate app: its own users, settings, storage and migrations. It talks to health-data
providers (VitalKey or any Withings-compatible one) only over HTTP, exactly as a third party
would, and imports nothing from ``vitalkey``.
"""
