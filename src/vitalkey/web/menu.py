"""The Profile menu at the top right of a signed-in page (base.html): the user's initials, name
and email, then these links in order, then "Sign out" (a POST form, not a link)."""

from __future__ import annotations

from dataclasses import dataclass

from vitalkey.domain.accounts import Account, display_name, family_name_first
from vitalkey.domain.i18n import N_


@dataclass(frozen=True, slots=True)
class MenuEntry:
    href: str
    label: str  # marked with N_, translated where it is shown


# Only pages that exist. To add one (the Devices page, "Download my data"), add its line here.
PROFILE_MENU: tuple[MenuEntry, ...] = (
    MenuEntry("/dashboard", N_("Dashboard")),
    MenuEntry("/account", N_("Account & Security")),
    MenuEntry("/devices", N_("Devices")),
    MenuEntry("/account/connected-apps", N_("Connected apps")),
    MenuEntry("/account/data", N_("Download my data")),
)


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the menu says is signed in (there are no profile pictures: the initials stand in)."""

    initials: str
    name: str  # "" before the profile is filled in
    email: str


def identity(account: Account, language: str) -> Identity:
    profile = account.profile
    if profile is None or not (profile.first_name or profile.last_name):
        return Identity(initials=account.email[:1].upper(), name="", email=account.email)
    first, last = profile.first_name.strip(), profile.last_name.strip()
    order = (last, first) if family_name_first(language) else (first, last)  # as the name is written
    initials = "".join(part[:1].upper() for part in order if part)
    return Identity(initials=initials, name=display_name(first, last, language), email=account.email)
