""" "Download my data": an export of a user's whole account, its states and its refusals.

An export is ``pending`` while a worker builds it (large accounts), ``ready`` once its ZIP is
stored (until ``expires``), or ``failed`` when the builds kept failing. Its id is random (128
bits): it is the download link's last part, and the link works only for the signed-in owner.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from vitalkey.domain.errors import DomainError
from vitalkey.domain.i18n import N_
from vitalkey.domain.tokens import new_token

MAX_ATTEMPTS = 3  # builds of one export before it is given up (a bug, not a passing failure)


class ExportStatus(StrEnum):
    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class DataExport:
    id: str
    account_id: int
    status: ExportStatus
    created: datetime
    ready_at: datetime | None = None
    expires: datetime | None = None  # the download works until then (set once ready or failed)
    records: int = 0  # health records in it
    size: int = 0  # bytes of the ZIP
    attempts: int = 0

    def expired(self, now: datetime) -> bool:
        return self.expires is not None and now >= self.expires


def new_export_id() -> str:
    return new_token(16)


class ExportInProgress(DomainError):
    code = "export_in_progress"
    message = N_("Your data is already being prepared. We will send you an email when the download is ready.")


class ExportNotFound(DomainError):
    code = "export_not_found"
    message = N_("There is no download of yours with this link.")


class ExportExpired(DomainError):
    code = "export_expired"
    message = N_("This download link has expired. Prepare a new download of your data.")


class ExportNotReady(DomainError):
    code = "export_not_ready"
    message = N_("This download is still being prepared. We will send you an email when it is ready.")


class ExportFailed(DomainError):
    code = "export_failed"
    message = N_("This download could not be prepared. Please prepare a new one.")


__all__ = [
    "MAX_ATTEMPTS",
    "DataExport",
    "ExportExpired",
    "ExportFailed",
    "ExportInProgress",
    "ExportNotFound",
    "ExportNotReady",
    "ExportStatus",
    "new_export_id",
]
