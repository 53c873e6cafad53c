"""Implementations of the ports: storage, mail, rate limits."""
