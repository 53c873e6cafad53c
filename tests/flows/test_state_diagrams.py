"""Each flow's mermaid diagram draws exactly its transition table; every machine has one."""

import importlib
import pkgutil
from pathlib import Path
from typing import Any

import pytest

import vitalkey.flows
from vitalkey.domain.flows import StateMachine

FLOWS = Path(vitalkey.flows.__file__).parent


def machines() -> dict[str, StateMachine[Any, Any]]:
    """Every flow module's MACHINE, by its name."""
    found = {}
    for module in pkgutil.iter_modules([str(FLOWS)]):
        machine = getattr(importlib.import_module(f"vitalkey.flows.{module.name}"), "MACHINE", None)
        if isinstance(machine, StateMachine):
            found[machine.name] = machine
    return found


def diagrams() -> dict[str, Path]:
    return {path.stem: path for path in FLOWS.glob("*.mermaid")}


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


def test_every_machine_has_a_diagram_and_every_diagram_a_machine() -> None:
    assert machines().keys() == diagrams().keys()
    assert {"login", "signup", "password_set", "two_factor", "authorize"} <= machines().keys()


@pytest.mark.parametrize("name", sorted(diagrams()))
def test_diagram_matches_table(name: str) -> None:
    machine, diagram = machines()[name], diagrams()[name]
    table = {(source.value, event.value, target.value) for (source, event), target in machine.transitions.items()}
    assert mermaid_edges(diagram) == table
    assert f"[*] --> {machine.initial.value}" in diagram.read_text()


@pytest.mark.parametrize("name", sorted(machines()))
def test_states_and_events_are_the_tables(name: str) -> None:
    """The enums declare no state or event that the table does not use."""
    machine = machines()[name]
    states = {machine.initial} | {s for s, _ in machine.transitions} | set(machine.transitions.values())
    assert states == set(machine.states)
    assert {event for _, event in machine.transitions} == set(machine.events)
