"""Every UI and mail string goes through gettext, and every language is complete."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
LOCALE = ROOT / "src" / "vitalkey" / "locale"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def extract(target: Path) -> set[str]:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "N_",
            "-k",
            "Nn_:1,2",
            "-k",
            "_",
            "--no-location",
            "--omit-header",
            "-o",
            str(target),
            ".",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    with target.open("rb") as handle:
        return {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(handle) if m.id}


def test_template_catalog_is_up_to_date(tmp_path: Path) -> None:
    fresh = extract(tmp_path / "fresh.pot")
    with (LOCALE / "messages.pot").open("rb") as handle:
        shipped = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(handle) if m.id}
    assert fresh == shipped, "run scripts/i18n-update and translate the new strings"


@pytest.mark.parametrize("folder", ["de", "fr", "ja", "zh_Hans"])
def test_language_is_complete_with_the_same_placeholders(folder: str) -> None:
    with (LOCALE / "messages.pot").open("rb") as handle:
        wanted = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(handle) if m.id}
    with (LOCALE / folder / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle)
    translated = {}
    for message in catalog:
        if not message.id or message.fuzzy:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(strings), f"{folder}: untranslated {ids[0]!r}"
        for text in strings:
            assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(ids[0])), f"{folder}: {ids[0]!r}"
        translated[ids[0]] = strings
    assert wanted <= set(translated), f"{folder}: missing {sorted(wanted - set(translated))[:5]}"
