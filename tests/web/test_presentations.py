"""Every state of every flow has a page and a JSON API representation declared (web/presentation.py),
so a new state cannot be left without one."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

import vitalkey.flows
from vitalkey.domain.flows import StateMachine
from vitalkey.web import oauth, pages, passkey_pages, password_pages, two_factor_pages
from vitalkey.web.presentation import BROWSER_ONLY, BY_METHOD, GONE, NOT_STORED, REDIRECT, Presentation
from vitalkey.web.render import TEMPLATES

PRESENTATIONS = [
    pages.SIGNUP_PRESENTATION,
    pages.LOGIN_PRESENTATION,
    password_pages.PASSWORD_SET_PRESENTATION,
    two_factor_pages.TWO_FACTOR_PRESENTATION,
    oauth.AUTHORIZE_PRESENTATION,
    passkey_pages.PASSKEY_ENROLMENT_PRESENTATION,
]


def machines() -> Iterator[StateMachine[Any, Any]]:
    """The MACHINE of every module in vitalkey.flows."""
    for module in pkgutil.iter_modules(vitalkey.flows.__path__):
        machine = getattr(importlib.import_module(f"vitalkey.flows.{module.name}"), "MACHINE", None)
        if isinstance(machine, StateMachine):
            yield machine


def states(machine: StateMachine[Any, Any]) -> set[str]:
    """Every state of the machine's enum (the diagram test checks the table uses each)."""
    return set(machine.states)


def presentation_of(machine: StateMachine[Any, Any]) -> Presentation:
    found = [p for p in PRESENTATIONS if p.machine is machine]
    assert len(found) == 1, f"the {machine.name} flow needs exactly one Presentation in web/"
    return found[0]


@pytest.mark.parametrize("machine", list(machines()), ids=lambda machine: machine.name)
def test_every_state_has_a_page_and_an_api_representation(machine: StateMachine[Any, Any]) -> None:
    presentation = presentation_of(machine)
    expected = states(machine)
    assert set(presentation.pages) == expected, machine.name
    assert set(presentation.api) == expected, machine.name
    for state in expected:
        shown = presentation.pages[state]
        if shown == BY_METHOD:  # a factor step: a page for each of its methods
            assert presentation.methods[state], (machine.name, state)
            for method, template in presentation.methods[state].items():
                assert (TEMPLATES / template).is_file(), (machine.name, state, method, template)
                assert presentation.page(state, method) == template
            continue
        assert shown in (REDIRECT, GONE, NOT_STORED) or (TEMPLATES / shown).is_file(), (machine.name, state, shown)
        answer = presentation.api[state]
        assert answer in (NOT_STORED, BROWSER_ONLY) or (
            isinstance(answer, type) and issubclass(answer, msgspec.Struct)
        ), (machine.name, state, answer)


def test_the_flows_are_found() -> None:
    assert {machine.name for machine in machines()} == {p.machine.name for p in PRESENTATIONS}
