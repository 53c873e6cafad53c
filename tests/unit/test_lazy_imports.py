"""A process that only serves the data API and the companion app does not load the dashboard's
chart library nor the user-agent rules (~9 MB; bench/RESULTS.md, "Ingestion and memory
again"): they load on the first chart or sessions list. Nor the QR code library (~3 MB), which
loads on the first authenticator app set-up."""

from __future__ import annotations

import subprocess
import sys


def test_starting_the_app_loads_neither_pygal_nor_ua_parser_nor_segno() -> None:
    probe = (
        "import sys, vitalkey.web.asgi; print(sorted(m for m in ('pygal', 'segno', 'ua_parser') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    assert loaded.stdout.strip() == "[]"


def test_they_load_when_first_used() -> None:
    probe = (
        "import sys; from vitalkey.web.user_agents import describe; describe('Mozilla/5.0 (X11; Linux x86_64)'); "
        "print('ua_parser' in sys.modules)"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    assert loaded.stdout.strip() == "True"


def test_segno_loads_with_the_first_qr_code() -> None:
    probe = "import sys; from vitalkey.web.qr import qr_svg; qr_svg('x', 'x'); print('segno' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    assert loaded.stdout.strip() == "True"
