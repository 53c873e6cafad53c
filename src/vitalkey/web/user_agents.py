"""A session's device in words ("Chrome on Linux", "VitalKey app on iPhone"), read from its
user agent by ua-parser (the maintained port of the uap-core rules), never shown raw."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from vitalkey.domain.i18n import N_

if TYPE_CHECKING:
    import ua_parser

# The companion app's user agents start with its product token: "VitalKey/3.2 CFNetwork/…
# Darwin/…" on iOS, "VitalKey/3.2 (Linux; Android 14; Pixel 8)" on Android.
COMPANION_PRODUCT = "VitalKey/"

# ua-parser's names that read better shortened on a sessions list.
_PROGRAMS = {
    "Mobile Safari": "Safari",
    "Chrome Mobile": "Chrome",
    "Chrome Mobile iOS": "Chrome",
    "Firefox Mobile": "Firefox",
    "Firefox iOS": "Firefox",
    "Edge Mobile": "Edge",
}
_SYSTEMS = {"Mac OS X": "macOS"}
_APPLE_DEVICES = ("iPhone", "iPad")


@dataclass(frozen=True, slots=True)
class Device:
    """What a sessions list says of a user agent; empty strings where nothing is known."""

    program: str  # a browser ("Chrome") or, for the companion app, its name
    system: str  # "Linux", "Windows", "iPhone", "Android"
    companion: bool = False


@lru_cache(maxsize=1024)
def describe(user_agent: str) -> Device:
    """The device behind ``user_agent`` (cached: a user's few sessions repeat the same strings)."""
    # ua-parser's rules (~2 MB) are loaded on the first sessions list, not by every process.
    import ua_parser  # noqa: PLC0415

    parsed = ua_parser.parse(user_agent)
    system = _system(parsed)
    if user_agent.startswith(COMPANION_PRODUCT):
        # An iOS app's CFNetwork user agent names no device model: iOS is the iPhone app.
        return Device(program="VitalKey", system="iPhone" if system == "iOS" else system, companion=True)
    family = parsed.user_agent.family if parsed.user_agent else ""
    program = "" if family == "Other" else _PROGRAMS.get(family, family)
    return Device(program=program, system=system)


def _system(parsed: ua_parser.Result) -> str:
    device = parsed.device.family if parsed.device else ""
    if device in _APPLE_DEVICES:
        return device  # "Safari on iPhone" says more than "Safari on iOS"
    system = parsed.os.family if parsed.os else ""
    return "" if system == "Other" else _SYSTEMS.get(system, system)


def label(device: Device, gettext: Callable[[str], str]) -> str:
    """The device in words, in the language of ``gettext``: the sessions list's and the
    sessions API's ``device``."""
    if device.companion and device.system:
        return gettext(N_("%(app)s app on %(platform)s")) % {"app": device.program, "platform": device.system}
    if device.companion:
        return gettext(N_("%(app)s app")) % {"app": device.program}
    if device.program and device.system:
        return gettext(N_("%(browser)s on %(system)s")) % {"browser": device.program, "system": device.system}
    return device.program or device.system or gettext(N_("Unknown device"))
