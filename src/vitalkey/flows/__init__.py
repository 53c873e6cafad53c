"""Persisted state machines driven alike by web pages and the JSON API."""
