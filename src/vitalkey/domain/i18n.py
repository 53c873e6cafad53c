"""Marking strings for translation without translating them here (the edge translates)."""


def N_(message: str) -> str:
    """Mark ``message`` for extraction by Babel; it is translated where it is shown."""
    return message
