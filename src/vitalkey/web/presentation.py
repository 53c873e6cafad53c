"""How the web presents a flow's states: the page that shows each state, and the JSON shape the
API shows it with. Each flow declares one ``Presentation`` beside its routes; a test checks that
every state of every flow's machine is declared, so a new state cannot go unshown by accident."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import msgspec

from vitalkey.domain.flows import StateMachine

# Pages: a template's name, or what the page does instead of showing the state.
REDIRECT = "redirect"  # the flow is done: the page sends the browser on
GONE = "gone"  # the flow cannot go on: the page says so (and offers to start again)
# Pages and API: the flow is never stored in this state (the step that creates it moves on).
NOT_STORED = "not_stored"
# API: a flow only a browser takes (no JSON route shows it).
BROWSER_ONLY = "browser_only"


@dataclass(frozen=True)
class Presentation:
    machine: StateMachine[Any, Any]
    pages: Mapping[str, str]  # state → template, or REDIRECT, GONE, NOT_STORED
    api: Mapping[str, type[msgspec.Struct] | str]  # state → the answer's Struct, or NOT_STORED, BROWSER_ONLY

    def __post_init__(self) -> None:  # read-only: declarations, not state
        object.__setattr__(self, "pages", MappingProxyType(dict(self.pages)))
        object.__setattr__(self, "api", MappingProxyType(dict(self.api)))

    def page(self, state: str) -> str:
        return self.pages[state]
