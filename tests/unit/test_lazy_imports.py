"""A process that only serves the data API and the companion app does not load the dashboard's
chart library nor the user-agent rules (~9 MB; bench/RESULTS.md, "Ingestion and memory
again"): they load on the first chart or sessions list. Nor the QR code library (~3 MB), which
loads on the first authenticator app set-up; nor py_webauthn (~5 MB with pyOpenSSL and cbor2),
which loads with the first passkey ceremony; nor the upstream sign-in client (Authlib on
httpx2), which loads only when a provider is configured."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_starting_the_app_loads_none_of_the_rarely_used_libraries(tmp_path: Path) -> None:
    probe = (
        "import sys, vitalkey.web.asgi; vitalkey.web.asgi.create(); "
        "print(sorted(m for m in ('pygal', 'segno', 'ua_parser', 'webauthn', 'httpx2') if m in sys.modules))"
    )
    env = {**os.environ, "VITALKEY_DATA_DIR": str(tmp_path)}
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60, env=env
    )
    assert loaded.stdout.strip().splitlines()[-1] == "[]"


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


def test_webauthn_loads_with_the_first_passkey_ceremony() -> None:
    probe = (
        "import sys; from vitalkey.flows.authenticators.passkey import ceremonies; "
        "print('webauthn' in sys.modules, end=' '); ceremonies(); print('webauthn' in sys.modules)"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    assert loaded.stdout.strip() == "False True"
