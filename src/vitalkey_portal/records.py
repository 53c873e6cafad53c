"""What the portal keeps: its users, their links to providers, and the synced data. No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from vitalkey_portal.providers import Provider


@dataclass(frozen=True, slots=True)
class PortalUser:
    id: int
    username: str
    display_name: str
    timezone: str  # IANA name


class LinkState(StrEnum):
    PENDING = "pending"  # tokens in hand, waiting for the user to confirm replacing their wearable
    LINKED = "linked"
    UNLINKED = "unlinked"


class UnlinkReason(StrEnum):
    USER = "user"  # "Unlink" on the portal
    REPLACED = "replaced"  # a second wearable was linked and the user confirmed
    PROVIDER = "provider"  # appli 46 action=unlink/delete, or a refused refresh
    REFUSED = "refused"  # the user declined to replace their wearable


@dataclass(frozen=True, slots=True)
class Link:
    """A portal user's link to one account at one provider (tokens are kept apart, sealed)."""

    id: int
    user_id: int
    provider: str  # Provider.slug
    provider_userid: str
    state: LinkState
    has_wearable: bool
    linked_at: datetime
    last_sync: datetime | None  # set when a sync (first or later) completed
    unlinked_at: datetime | None = None
    unlinked_reason: UnlinkReason | None = None


@dataclass(frozen=True, slots=True)
class ProviderSection:
    """One section of the "Link Device" page and of Settings → Connected App."""

    provider: Provider
    link: Link | None  # the current link, or the last one when unlinked (None: never linked)

    @property
    def linked(self) -> bool:
        return self.link is not None and self.link.state is LinkState.LINKED


# Synced data, as the dashboard reads it ---------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Point:
    day: date
    value: float  # kg, steps, hours: for drawing only (the stored values are exact)


@dataclass(frozen=True, slots=True)
class DashboardData:
    days: int
    weight_kg: tuple[Point, ...]
    steps: tuple[Point, ...]
    sleep_hours: tuple[Point, ...]
    last_sync: datetime | None
