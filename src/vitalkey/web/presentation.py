"""How the web presents a flow's states: the page that shows each state, and the JSON shape the
API shows it with. Each flow declares one ``Presentation`` beside its routes; a test checks that
every state of every flow's machine is declared, so a new state cannot go unshown by accident."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
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
# Pages: a factor step, whose page is its method's (``Presentation.methods``).
BY_METHOD = "by_method"


@dataclass(frozen=True)
class Presentation:
    machine: StateMachine[Any, Any]
    pages: Mapping[str, str]  # state → template, or REDIRECT, GONE, NOT_STORED, BY_METHOD
    api: Mapping[str, type[msgspec.Struct] | str]  # state → the answer's Struct, or NOT_STORED, BROWSER_ONLY
    # For a BY_METHOD state: the flow's method (``flow.context["method"]``) → its template.
    methods: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:  # read-only: declarations, not state
        object.__setattr__(self, "pages", MappingProxyType(dict(self.pages)))
        object.__setattr__(self, "api", MappingProxyType(dict(self.api)))
        methods = {state: MappingProxyType(dict(by)) for state, by in self.methods.items()}
        object.__setattr__(self, "methods", MappingProxyType(methods))

    def page(self, state: str, method: object = None) -> str:
        shown = self.pages[state]
        if shown != BY_METHOD:
            return shown
        template = self.methods[state].get(str(method))
        if template is None:
            raise LookupError(f"no page shows the method {method!r} in the state {state!r}")
        return template
