"""Each flow's mermaid diagram draws exactly its transition table."""

from pathlib import Path

import pytest

from vitalkey.domain.flows import StateMachine
from vitalkey.flows import authorize, login, password_settings, signup, two_factor


def mermaid_edges(path: Path) -> set[tuple[str, str, str]]:
    edges = set()
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if "-->" not in line or ":" not in line:
            continue
        arrow, event = line.split(":", 1)
        source, target = (part.strip() for part in arrow.split("-->"))
        edges.add((source, event.strip(), target))
    return edges


@pytest.mark.parametrize(
    ("machine", "diagram"),
    [
        (login.MACHINE, login.DIAGRAM),
        (signup.MACHINE, signup.DIAGRAM),
        (password_settings.MACHINE, password_settings.DIAGRAM),
        (two_factor.MACHINE, two_factor.DIAGRAM),
        (authorize.MACHINE, authorize.DIAGRAM),
    ],
)
def test_diagram_matches_table(machine: StateMachine, diagram: Path) -> None:
    table = {(source, event, target) for (source, event), target in machine.transitions.items()}
    assert mermaid_edges(diagram) == table
    assert f"[*] --> {machine.initial}" in diagram.read_text()
