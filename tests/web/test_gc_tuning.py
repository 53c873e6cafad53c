"""The server process tunes the garbage collector once its app is made (web/asgi.py)."""

from __future__ import annotations

import gc

from vitalkey.web.asgi import YOUNG_GENERATION_THRESHOLD, tune_garbage_collector


def test_start_up_objects_are_frozen_and_young_objects_collected_less_often() -> None:
    threshold = gc.get_threshold()
    try:
        start_up: list[int] = [1]  # tracked by the collector
        assert any(start_up is other for other in gc.get_objects())
        tune_garbage_collector()
        assert gc.get_freeze_count() > 0
        assert not any(start_up is other for other in gc.get_objects())  # frozen: never scanned
        assert gc.get_threshold() == (YOUNG_GENERATION_THRESHOLD, *threshold[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
