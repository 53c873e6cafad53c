"""The thin HTTP edge: HTML pages, the JSON API, operations endpoints."""
