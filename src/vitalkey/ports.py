"""The narrow interfaces the flows need; adapters implement them (Kratos-style dependencies)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Generic, ParamSpec, Protocol, TypeVar

from vitalkey.domain.accounts import Account, Profile
from vitalkey.domain.apps import App
from vitalkey.domain.authenticators import StoredAuthenticator
from vitalkey.domain.codes import StoredCode
from vitalkey.domain.dashboard import DashboardPrefs
from vitalkey.domain.data_exports import DataExport
from vitalkey.domain.flows import Flow
from vitalkey.domain.health import (
    ActivityDay,
    Category,
    Device,
    Goals,
    HeartRecording,
    IntradaySample,
    MeasureFilter,
    MeasureGroup,
    MeasureValue,
    Page,
    SleepNight,
    SleepSession,
    Window,
    Workout,
)
from vitalkey.domain.notifications import Appli, Delivery, Notice, Subscription
from vitalkey.domain.oauth import AuthorizationCode, Consent, SigningKey, TokenRecord
from vitalkey.domain.sessions import Session
from vitalkey.domain.two_factor import AppPassword

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S")


class Clock(Protocol):
    def now(self) -> datetime: ...


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    """A mail to render from ``template`` in ``language`` and deliver at least once."""

    to: str
    template: str
    language: str
    context: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str = ""


@dataclass(frozen=True, slots=True)
class OutgoingSms:
    """A text message to send at least once; providers that can use ``idempotency_key`` drop repeats."""

    to: str  # E.164
    body: str
    idempotency_key: str


@dataclass(frozen=True, slots=True)
class QueuedSms:
    """A text to render from ``template`` in ``language`` (the outbox row of an SMS)."""

    to: str  # E.164
    template: str
    language: str
    context: dict[str, Any]
    idempotency_key: str


class SmsFailed(Exception):
    """A message was not accepted. ``temporary``: worth another try later (time-out, 429, 5xx)."""

    def __init__(self, reason: str, *, temporary: bool) -> None:
        super().__init__(reason)
        self.temporary = temporary


class SmsSender(Protocol):
    async def send(self, sms: OutgoingSms) -> str:
        """Hand one message to the provider; its id there. Raises :class:`SmsFailed`."""
        ...


class FlowRepository(Protocol):
    def add(self, flow: Flow) -> None: ...
    def get(self, flow_id: str) -> Flow | None: ...
    def save(self, flow: Flow, expected_state: str) -> bool:
        """Write ``flow`` only if its stored state is still ``expected_state``."""
        ...

    def forget_address(self, email_key: str) -> int:
        """Drop every flow of the address (any case), with its codes; how many."""
        ...


class CodeRepository(Protocol):
    def add(self, code: StoredCode) -> None: ...
    def get(self, flow_id: str, purpose: str) -> StoredCode | None: ...
    def count_attempt(self, flow_id: str, purpose: str) -> StoredCode | None:
        """Add one attempt to an unused code and return it as now stored."""
        ...

    def consume(self, flow_id: str, purpose: str, now: datetime, max_attempts: int) -> bool:
        """Mark the code used if it is unused, unexpired and within its attempts (atomic)."""
        ...

    def replace(
        self, flow_id: str, purpose: str, code_hmac: str, expires_at: datetime, now: datetime, expected_sends: int
    ) -> bool:
        """A resend: new code and expiry, one more send, attempts untouched — only if the code
        has still been sent ``expected_sends`` times (False when a parallel resend won)."""
        ...


class AccountRepository(Protocol):
    def by_email(self, email_key: str) -> Account | None: ...
    def get(self, account_id: int) -> Account | None: ...
    def create(
        self, email: str, email_key: str, language: str, profile: Profile, policy_version: str, now: datetime
    ) -> Account | None:
        """None when an account with ``email_key`` already exists."""
        ...

    def update_profile(self, account_id: int, profile: Profile, now: datetime) -> None: ...
    def set_language(self, account_id: int, language: str) -> None: ...
    def delete(self, account_id: int) -> bool:
        """The account and, by ON DELETE CASCADE, everything it owns; False when it was gone."""
        ...


class SessionRepository(Protocol):
    def add(self, session: Session) -> None: ...
    def get(self, session_id: str) -> Session | None: ...
    def touch(self, session_id: str, now: datetime) -> None: ...
    def add_factor(self, session: Session, method: str, now: datetime, expires_by: datetime) -> None:
        """The session proved ``method`` at ``now`` and ends by ``expires_by`` at the latest."""
        ...

    def for_account(self, account_id: int, now: datetime) -> list[Session]: ...
    def revoke(self, account_id: int, session_id: str, now: datetime) -> bool: ...
    def revoke_all_except(self, account_id: int, keep_id: str | None, now: datetime) -> int: ...


class Outbox(Protocol):
    def enqueue(self, mail: OutgoingMail, now: datetime) -> None: ...
    def enqueue_sms(self, sms: QueuedSms, now: datetime) -> None: ...
    def forget_recipients(self, recipients: list[str]) -> int:
        """Drop every mail and text to these addresses and numbers, sent or not; how many."""
        ...


class AuthenticatorRepository(Protocol):
    """An account's authenticators (``domain.authenticators``). The writes that guard a secret
    are conditional, so that parallel uses of one code or one signature give one success."""

    def for_account(self, account_id: int) -> list[StoredAuthenticator]:
        """In the order they were added."""
        ...

    def get(self, account_id: int, authenticator_id: int) -> StoredAuthenticator | None: ...
    def by_lookup(self, kind: str, lookup: str) -> StoredAuthenticator | None: ...
    def add(self, authenticator: StoredAuthenticator) -> StoredAuthenticator | None:
        """Store it (its ``id`` is ignored) and return it with its id; None on a conflict: the
        account has one of this kind already (all but passkeys and federated identities), another
        default, or the lookup is taken."""
        ...

    def advance(self, authenticator_id: int, counter: int, now: datetime) -> bool:
        """Move ``counter`` forward to ``counter`` and mark it used, only if it was below:
        False means a replayed TOTP step or a passkey's sign count gone backwards."""
        ...

    def touch(self, authenticator_id: int, now: datetime) -> bool:
        """Mark it used."""
        ...

    def set_data(self, authenticator_id: int, data: Mapping[str, Any]) -> bool: ...
    def swap_secret(self, authenticator_id: int, old_lookup: str, lookup: str, sealed: str, now: datetime) -> bool:
        """Replace the secret only if its lookup is still ``old_lookup`` (atomic: a recovery code
        is used once); ``created_at`` becomes ``now``, when the new secret was issued."""
        ...

    def rename(self, account_id: int, authenticator_id: int, name: str) -> bool: ...
    def set_default(self, account_id: int, authenticator_id: int) -> bool:
        """Make it the account's default second factor (never a recovery code)."""
        ...

    def remove(self, account_id: int, authenticator_id: int) -> bool: ...
    def remove_kind(self, account_id: int, kind: str) -> int:
        """Remove the account's authenticators of ``kind``; how many there were."""
        ...

    def lock_account(self, account_id: int) -> None:
        """Hold the account's authenticators until the transaction ends, so that changes which
        depend on what is left (removing the last second factor turns 2FA off) run one at a time."""
        ...


class AppRepository(Protocol):
    """Registered apps (OAuth clients)."""

    def get(self, client_id: str) -> App | None: ...
    def all(self) -> list[App]: ...
    def add(self, app: App) -> bool:
        """False when an app with this client id exists already."""
        ...

    def set_secret(self, client_id: str, secret_digest: str, secret_sealed: str) -> bool:
        """A confidential client's new secret; the old one stops working."""
        ...

    def delete(self, client_id: str) -> bool: ...


class AppPasswordRepository(Protocol):
    """Per-app passwords, for apps that cannot ask for a second factor (only digests are kept)."""

    def for_account(self, account_id: int) -> list[AppPassword]:
        """The account's live app passwords, oldest first."""
        ...

    def add(self, password: AppPassword, digest: str) -> None: ...
    def use(self, account_id: int, app_id: str, digest: str, now: datetime) -> AppPassword | None:
        """The live app password of this account and app with this digest, marked used now."""
        ...

    def revoke(self, account_id: int, password_id: str, now: datetime) -> bool: ...
    def revoke_all(self, account_id: int, now: datetime) -> int: ...


class AuthorizationCodeRepository(Protocol):
    """OAuth authorization codes, kept as digests."""

    def add(self, code: AuthorizationCode) -> None: ...
    def use(self, digest: str, now: datetime) -> AuthorizationCode | None:
        """Mark a live code used (atomic) and return it; None when unknown, used or expired."""
        ...

    def get(self, digest: str) -> AuthorizationCode | None: ...


class TokenRepository(Protocol):
    """Token generations (an access token and the refresh token issued with it), kept as digests."""

    def add(self, token: TokenRecord) -> int:
        """Store a generation (with its digests); its row id."""
        ...

    def get(self, token_id: int) -> TokenRecord | None: ...
    def get_with_owner(self, token_id: int) -> tuple[TokenRecord, Account] | None:
        """The generation and the account it was issued to, in one read (a resource request's check)."""
        ...

    def legacy_id(self, digest: str) -> int | None:
        """The row of a token issued before tokens carried their row id, by its digest."""
        ...

    def first_use(self, token: TokenRecord, now: datetime) -> bool:
        """Record the first use of an access token and retire its parent's refresh token now."""
        ...

    def rotate(self, token_id: int, now: datetime, retire_at: datetime) -> bool:
        """A child is issued: this refresh token retires at ``retire_at`` at the latest, if it is
        still live at ``now`` (not revoked, not retired); whether it was (atomic)."""
        ...

    def revoke_family(self, account_id: int, client_id: str, family_id: str, now: datetime) -> int:
        """Revoke every generation of one grant (a code's redemption and its refreshes)."""
        ...

    def revoke_app(self, account_id: int, client_id: str, now: datetime) -> int:
        """Revoke every token of the app for the account and spend its unused codes."""
        ...


class ConsentRepository(Protocol):
    """What each user allowed each app."""

    def get(self, account_id: int, client_id: str) -> Consent | None: ...
    def for_account(self, account_id: int) -> list[Consent]:
        """The account's consents, the first given first."""
        ...

    def allow(self, account_id: int, client_id: str, scopes: tuple[str, ...], now: datetime) -> None:
        """Remember (or widen) what the user allowed the app."""
        ...

    def used(self, account_id: int, client_id: str, now: datetime, precision: timedelta) -> None:
        """The app was used now: remembered unless a use within ``precision`` was."""
        ...

    def forget(self, account_id: int, client_id: str) -> bool: ...


class NonceRepository(Protocol):
    """Withings signature nonces: single use, short-lived."""

    def add(self, nonce: str, client_id: str, expires_at: datetime) -> None: ...
    def use(self, nonce: str, client_id: str, now: datetime) -> bool:
        """Spend a live nonce of this client (atomic); whether there was one."""
        ...


class SigningKeyRepository(Protocol):
    """ID-token signing keys, private halves sealed."""

    def all(self) -> list[SigningKey]:
        """Newest first."""
        ...

    def add(self, key: SigningKey) -> None: ...
    def retire(self, alg: str, now: datetime, publish_until: datetime) -> int:
        """Stop signing with the live keys of ``alg``; they stay published until ``publish_until``."""
        ...


class Sealer(Protocol):
    """Encrypts what must be shown again later (the recovery code) with a rotatable server key."""

    def seal(self, plaintext: str) -> str: ...
    def open(self, sealed: str) -> str: ...


class AuditLog(Protocol):
    def record(self, event: str, now: datetime, account_id: int | None = None, **details: Any) -> None: ...
    def forget_account(self, account_id: int) -> int:
        """Drop the account's records (a deleted account keeps only its anonymous deletion record)."""
        ...


class Counters(Protocol):
    """Rate-limit buckets: hits per key and bucket start (integer microseconds since the epoch)."""

    def lock(self, key: str) -> None:
        """Hold ``key`` until the transaction ends, so that its hits are counted one by one."""
        ...

    def since(self, key: str, start_us: int) -> list[tuple[int, int]]:
        """(bucket start, hits) of ``key`` from ``start_us`` on, oldest first."""
        ...

    def add(self, key: str, bucket_us: int, hits: int = 1) -> None: ...
    def take_back(self, key: str, bucket_us: int, hits: int = 1) -> None:
        """``hits`` fewer in the bucket, never below none."""
        ...

    def forget(self, key: str) -> None:
        """Every bucket of ``key`` (a key naming a deleted account)."""
        ...


class PasswordHashRepository(Protocol):
    """The password of each account (its argon2id hash)."""

    def get(self, account_id: int) -> str | None: ...
    def set(self, account_id: int, password_hash: str, now: datetime) -> None:
        """Store a new password; the account's open reset links die with the old one."""
        ...

    def rehash(self, account_id: int, old_hash: str, new_hash: str) -> None:
        """Replace the hash with a stronger one, unless it changed meanwhile."""
        ...


class PasswordFailureRepository(Protocol):
    """Consecutive failed passwords per (keyed digest of an) address, and the wait they impose."""

    def count(self, key: str) -> tuple[int, datetime]:
        """Count one failure (before the password is checked) → (consecutive, blocked until)."""
        ...

    def get(self, key: str) -> tuple[int, datetime]:
        """(consecutive, blocked until); (0, the epoch) for a key without failures."""
        ...

    def block(self, key: str, until: datetime) -> None: ...
    def clear(self, key: str) -> None: ...


class PasswordResetRepository(Protocol):
    """ "Update password" links, kept as digests."""

    def add(self, token_digest: str, account_id: int, now: datetime, expires_at: datetime) -> None:
        """A new link; the account's older links die (only the newest works)."""
        ...

    def account(self, token_digest: str, now: datetime) -> int | None:
        """The account of a live link (unused, unexpired, the newest), or None."""
        ...

    def consume(self, token_digest: str, now: datetime) -> int | None:
        """Use a live link once (atomic); its account, or None."""
        ...


class PasswordHasher(Protocol):
    """argon2id; both calls run off the event loop (they take tens of milliseconds)."""

    async def hash(self, password: str) -> str: ...
    async def verify(self, stored: str | None, password: str) -> bool:
        """False for None, at the same cost as a real check."""
        ...

    def needs_rehash(self, stored: str) -> bool: ...


# Health data -----------------------------------------------------------------------------------
# Every listing returns live records (and, with ``include_deleted``, tombstones too) in id order,
# after ``page.after``, at most ``page.limit``: ids only grow, so paging is stable while data arrives.
class DeviceRepository(Protocol):
    def add(self, device: Device) -> None: ...
    def get(self, account_id: int, deviceid: str) -> Device | None:
        """A paired device of the account (None once unpaired)."""
        ...

    def for_account(self, account_id: int) -> list[Device]:
        """The paired devices, in pairing order."""
        ...

    def ever_paired(self, account_id: int) -> list[Device]:
        """Every device the account paired, the unpaired ones too (their records still name
        them), in pairing order."""
        ...

    def update(self, device: Device) -> bool:
        """Store a paired device's battery, time zone, sessions and ``modified``."""
        ...

    def unpair(self, account_id: int, deviceid: str, now: datetime) -> bool: ...


class MeasureGroupRepository(Protocol):
    def add(self, group: MeasureGroup) -> int:
        """Store a new group with its measures; its ``grpid``."""
        ...

    def add_many(self, groups: Sequence[MeasureGroup]) -> list[int]:
        """:meth:`add` for each group, in order (an ingested batch's groups at once)."""
        ...

    def get(self, account_id: int, grpid: int) -> MeasureGroup | None: ...
    def replace(self, group: MeasureGroup) -> bool:
        """An edit: the live group ``group.grpid`` of ``group.account_id`` takes ``group``'s date,
        measures, comment and ``modified``."""
        ...

    def delete(self, account_id: int, grpid: int, now: datetime) -> bool:
        """Leave a tombstone: no measures, ``deleted`` and ``modified`` set to ``now``."""
        ...

    def find(
        self, account_id: int, window: Window, wanted: MeasureFilter, page: Page, *, include_deleted: bool = False
    ) -> list[MeasureGroup]:
        """Groups dated within ``window.start``..``window.end`` and/or modified after
        ``window.updated_since``, holding a measure of ``wanted.types`` (only those measures are
        returned) and of ``wanted.category``."""
        ...

    def values(
        self, account_id: int, start: datetime, end: datetime, types: frozenset[int], category: Category
    ) -> list[MeasureValue]:
        """The measures of ``types`` in the live groups of ``category`` dated ``start``..``end``
        (inclusive), oldest first (by date, group, position): what the dashboard draws, read
        without building the groups."""
        ...

    def latest_values(
        self, account_id: int, start: datetime, end: datetime, types: frozenset[int], category: Category
    ) -> list[MeasureValue]:
        """For each of ``types``, its measure in the latest live group of ``category`` dated
        ``start``..``end`` that holds it (none for a type not measured then), by type."""
        ...

    def latest_timezone(self, account_id: int) -> str | None:
        """The time zone of the account's latest live group (by date), None without any."""
        ...


class ActivityRepository(Protocol):
    def put(self, day: ActivityDay) -> ActivityDay:
        """Store the day, replacing the account's day of the same date and device (keeping its
        id and ``created``, ``modified`` bumped); the day as stored."""
        ...

    def delete(self, account_id: int, day_id: int, now: datetime) -> bool: ...
    def steps(self, account_id: int, first_day: date, last_day: date) -> list[tuple[date, int]]:
        """Each live day's step count (0 when it has none) on the local days ``first_day`` to
        ``last_day``, oldest first, a row per source of a day: what the dashboard draws."""
        ...

    def find(self, account_id: int, window: Window, page: Page, *, include_deleted: bool = False) -> list[ActivityDay]:
        """Days within ``window.first_day``..``window.last_day`` and/or modified after
        ``window.updated_since``."""
        ...


class IntradayRepository(Protocol):
    def put(self, samples: list[IntradaySample]) -> None:
        """Store the samples; one already stored for the same device and second is replaced."""
        ...

    def between(self, account_id: int, start: datetime, end: datetime, limit: int) -> list[IntradaySample]:
        """Samples at ``start``..``end`` (inclusive), oldest first, at most ``limit``."""
        ...


class WorkoutRepository(Protocol):
    def add(self, workout: Workout) -> int: ...
    def delete(self, account_id: int, workout_id: int, now: datetime) -> bool: ...
    def find(self, account_id: int, window: Window, page: Page, *, include_deleted: bool = False) -> list[Workout]:
        """Workouts on the local days ``window.first_day``..``window.last_day`` and/or modified
        after ``window.updated_since``."""
        ...


class SleepRepository(Protocol):
    def add(self, session: SleepSession) -> int: ...
    def delete(self, account_id: int, session_id: int, now: datetime) -> bool: ...
    def overlapping(self, account_id: int, start: datetime, end: datetime) -> list[SleepSession]:
        """Live sessions that overlap ``start``..``end``, oldest first."""
        ...

    def find(self, account_id: int, window: Window, page: Page, *, include_deleted: bool = False) -> list[SleepSession]:
        """Sessions ending on the local days ``window.first_day``..``window.last_day`` (or
        between ``window.start`` and ``window.end``) and/or modified after ``window.updated_since``."""
        ...

    def nights(self, account_id: int, first_day: date, last_day: date) -> list[SleepNight]:
        """The live sessions ending on the local days ``first_day``..``last_day``, by start:
        their summaries only (a year's states and series cost more to read than the rest of
        the dashboard's data)."""
        ...


class HeartRepository(Protocol):
    def add(self, recording: HeartRecording) -> int: ...
    def get(self, account_id: int, signalid: int) -> HeartRecording | None: ...
    def delete(self, account_id: int, signalid: int, now: datetime) -> bool: ...
    def find(
        self, account_id: int, window: Window, page: Page, *, include_deleted: bool = False
    ) -> list[HeartRecording]:
        """Recordings taken within ``window.start``..``window.end`` and/or modified after
        ``window.updated_since``."""
        ...


class GoalRepository(Protocol):
    def get(self, account_id: int) -> Goals:
        """The account's goals (the defaults when never set)."""
        ...

    def set(self, account_id: int, goals: Goals) -> None: ...


class DashboardPrefsRepository(Protocol):
    def get(self, account_id: int) -> DashboardPrefs:
        """What the user last chose on the dashboard (the defaults when never)."""
        ...

    def set(self, account_id: int, prefs: DashboardPrefs) -> None: ...


class DataExportRepository(Protocol):
    """ "Download my data": the exports and their ZIP files (one pending export per account)."""

    def add(self, export: DataExport, content: bytes | None) -> bool:
        """Store an export (a ready one with its ZIP); False when the account already has a
        pending export (a parallel request won)."""
        ...

    def get(self, export_id: str) -> DataExport | None: ...
    def latest(self, account_id: int) -> DataExport | None:
        """The account's newest export."""
        ...

    def content(self, export_id: str) -> bytes | None:
        """The ZIP of a ready export (None once pruned)."""
        ...

    def drop_settled(self, account_id: int) -> int:
        """Forget the account's ready and failed exports (a new one replaces them); how many."""
        ...

    def claimable(self, now: datetime) -> bool:
        """Whether a pending export waits with its lease free (a worker's poll, read only)."""
        ...

    def claim(self, now: datetime, owner: str, lease: timedelta) -> DataExport | None:
        """The oldest pending export whose lease is free, leased to ``owner`` until
        ``now + lease`` (on PostgreSQL ``FOR UPDATE SKIP LOCKED``: two workers never build one)."""
        ...

    def renew(self, export_id: str, owner: str, until: datetime) -> bool:
        """Keep the lease while the build goes on; False when it is no longer the owner's."""
        ...

    def finish(self, export: DataExport, owner: str, content: bytes) -> bool:
        """Store the built ZIP and the export as ``export`` says (ready, its expiry, counts),
        only while ``owner`` holds the lease; False otherwise (or when the account is gone)."""
        ...

    def fail(self, export_id: str, owner: str, now: datetime, *, give_up_expires: datetime | None) -> bool:
        """A failed build: one more attempt, lease released; with ``give_up_expires`` the export
        is failed (shown as such until then)."""
        ...

    def prune(self, now: datetime, kept: timedelta) -> int:
        """Empty the expired exports' ZIP files, and forget the exports expired more than
        ``kept`` ago (until then their links say "expired"); how many were touched."""
        ...


@dataclass(frozen=True, slots=True)
class Receipt:
    """What a batch sent with an idempotency key was answered: the same key and body get the
    same answer again; the same key with another body (``digest``) is refused."""

    account_id: int
    key: str
    digest: str
    answer: dict[str, Any]
    created: datetime


class ReceiptRepository(Protocol):
    def get(self, account_id: int, key: str) -> Receipt | None: ...
    def add(self, receipt: Receipt) -> bool:
        """False when the account already has a receipt for this key (a parallel send won)."""
        ...

    def prune(self, before: datetime) -> int: ...


# Notifications ---------------------------------------------------------------------------------
class SubscriptionRepository(Protocol):
    """Partner apps' callback URLs per user and appli. One row per (account, app, appli, URL)."""

    def add(self, subscription: Subscription) -> Subscription:
        """The stored subscription with its id; subscribing the same (account, app, appli, URL)
        again keeps the one there, with the new ``comment`` and ``modified``, and it working again."""
        ...

    def get(self, account_id: int, client_id: str, appli: Appli, callbackurl: str) -> Subscription | None: ...

    def of_app(self, account_id: int, client_id: str, appli: Appli | None = None) -> list[Subscription]:
        """The app's subscriptions for the user (of one appli, or all), by appli then URL."""
        ...

    def matching(self, account_id: int, appli: Appli) -> list[Subscription]:
        """Every app's subscriptions for the user and appli (where a change is delivered), by id."""
        ...

    def update(
        self, subscription_id: int, *, callbackurl: str, appli: Appli, comment: str, now: datetime
    ) -> Subscription | None:
        """Moved to another URL or appli, or a new comment; working again (the partner fixed it).
        None when another subscription already has that (account, app, appli, URL)."""
        ...

    def remove(
        self, account_id: int, client_id: str, appli: Appli | None = None, callbackurl: str | None = None
    ) -> list[Subscription]:
        """Removed and answered: one (appli and URL), one appli's (URL None), or all the app's."""
        ...

    def mark_failing(self, subscription_id: int, since: datetime) -> None:
        """Its last retry cycle failed (kept; ``failing_since`` set if it was not)."""
        ...

    def mark_working(self, subscription_id: int) -> None: ...

    def of_account(self, account_id: int) -> list[Subscription]:
        """Every app's subscriptions for the user, by app, appli and URL."""
        ...

    def of_client(self, client_id: str) -> list[Subscription]:
        """All users' subscriptions of an app (the admin API), failing ones first, then by id."""
        ...


class DeliveryRepository(Protocol):
    """Queued callbacks to partners (the transactional outbox of notifications)."""

    def queue(self, subscription: Subscription, notice: Notice, delivery_id: str, now: datetime, due: datetime) -> int:
        """A delivery of ``notice`` to ``subscription``, first tried at ``due``; its row id. When
        a delivery for the same subscription, appli, change and backfill flag (and day, for appli
        16) is queued and not yet tried nor claimed, that one is widened to cover ``notice`` too
        (its period extended, its due time kept) and its id answered: bursts are coalesced."""
        ...

    def queue_to(
        self, account_id: int, client_id: str, callbackurl: str, notice: Notice, delivery_id: str, now: datetime
    ) -> int:
        """A delivery without a subscription (appli 46 unlink or delete, sent to the URLs the
        app had), due at once, never coalesced."""
        ...

    def claim(self, now: datetime, owner: str, lease: timedelta, limit: int) -> list[Delivery]:
        """Up to ``limit`` deliveries due by ``now``, neither delivered nor given up, and not held
        by another owner's live lease, leased to ``owner`` until ``now + lease`` (on PostgreSQL
        ``FOR UPDATE SKIP LOCKED``: several workers never claim the same one), oldest due first."""
        ...

    def delivered(self, delivery: Delivery, now: datetime, status: int) -> bool:
        """Taken (only by its lease's owner: False if the lease was lost)."""
        ...

    def retry(self, delivery: Delivery, due: datetime, *, cycle: int, status: int | None, error: str) -> bool:
        """A failed try: tried again at ``due`` (``attempts`` + 1, ``cycle`` as given), lease released."""
        ...

    def give_up(self, delivery: Delivery, now: datetime, *, status: int | None, error: str) -> bool:
        """The last cycle failed: kept as failed (``failed`` set), never tried again."""
        ...

    def recent(self, limit: int) -> list[Delivery]:
        """The newest deliveries, newest first (the dev page)."""
        ...

    def waiting(self, now: datetime) -> int:
        """Deliveries neither delivered nor given up (a gauge)."""
        ...

    def prune(self, before: datetime) -> int:
        """Forget the deliveries delivered or given up before ``before``; how many."""
        ...

    def forget_account(self, account_id: int) -> int:
        """Forget every delivery about the user, pending or settled (the account is deleted); how many."""
        ...


@dataclass(frozen=True, slots=True)
class CallbackAnswer:
    """How a partner's callback URL answered: its HTTP ``status``, or none and a short ``error``
    (``address_refused``: the name led to an address inside a private network; ``timeout``;
    ``connect``; ``tls``; ``invalid``) — never the body or anything the partner sent back."""

    status: int | None
    error: str = ""
    elapsed_ms: float = 0.0

    @property
    def ok(self) -> bool:
        """Taken, as Withings counts it: a status below 400 within the time limit (a redirect
        is answered, never followed)."""
        return self.status is not None and self.status < 400


class CallbackSender(Protocol):
    """Outgoing HTTP to partners' callback URLs, under the ``CallbackPolicy``: every connection
    goes only to an address the policy allows (checked on the address connected to, after the
    name is resolved), redirects are never followed, and an answer takes at most the time limit."""

    async def probe(self, url: str) -> CallbackAnswer:
        """HEAD, as Withings checks a URL at subscribe."""
        ...

    async def post(self, url: str, form: Sequence[tuple[str, str]], headers: Mapping[str, str]) -> CallbackAnswer:
        """A form POST (``application/x-www-form-urlencoded``) with these extra headers."""
        ...


class Transaction(Protocol):
    """One repository per aggregate, all in the same database transaction."""

    @property
    def flows(self) -> FlowRepository: ...
    @property
    def codes(self) -> CodeRepository: ...
    @property
    def accounts(self) -> AccountRepository: ...
    @property
    def sessions(self) -> SessionRepository: ...
    @property
    def password_hashes(self) -> PasswordHashRepository: ...
    @property
    def password_failures(self) -> PasswordFailureRepository: ...
    @property
    def password_resets(self) -> PasswordResetRepository: ...
    @property
    def authenticators(self) -> AuthenticatorRepository: ...
    @property
    def apps(self) -> AppRepository: ...
    @property
    def app_passwords(self) -> AppPasswordRepository: ...
    @property
    def authorization_codes(self) -> AuthorizationCodeRepository: ...
    @property
    def oauth_tokens(self) -> TokenRepository: ...
    @property
    def consents(self) -> ConsentRepository: ...
    @property
    def nonces(self) -> NonceRepository: ...
    @property
    def signing_keys(self) -> SigningKeyRepository: ...
    @property
    def outbox(self) -> Outbox: ...
    @property
    def audit(self) -> AuditLog: ...
    @property
    def counters(self) -> Counters: ...
    @property
    def devices(self) -> DeviceRepository: ...
    @property
    def measure_groups(self) -> MeasureGroupRepository: ...
    @property
    def activity(self) -> ActivityRepository: ...
    @property
    def intraday(self) -> IntradayRepository: ...
    @property
    def workouts(self) -> WorkoutRepository: ...
    @property
    def sleep(self) -> SleepRepository: ...
    @property
    def heart(self) -> HeartRepository: ...
    @property
    def goals(self) -> GoalRepository: ...
    @property
    def dashboard_prefs(self) -> DashboardPrefsRepository: ...
    @property
    def receipts(self) -> ReceiptRepository: ...
    @property
    def data_exports(self) -> DataExportRepository: ...
    @property
    def subscriptions(self) -> SubscriptionRepository: ...
    @property
    def deliveries(self) -> DeliveryRepository: ...


@dataclass(frozen=True, slots=True)
class Pending(Generic[R]):
    """What work that read (without waiting for the writer) found it must still write: ``write``
    runs as one write transaction and re-checks what the read saw (if that changed, it does the
    whole work again in its transaction)."""

    write: Callable[[], R]

    def then(self, after: Callable[[R], S]) -> Pending[S]:
        return Pending(lambda: after(self.write()))


class StorageUnavailable(Exception):
    """The database cannot be reached now (connection refused or lost, its file cannot be opened)
    or asked for the work to be tried again later: a temporary failure, not a bug. The unit of
    work raises it; the web edge answers 503 with Retry-After."""


class DatabaseBusy(StorageUnavailable):
    """The database could not complete this work: it kept aborting the work's transaction for
    conflicts with concurrent ones (a serialization failure or a deadlock) until the retries of
    :meth:`UnitOfWork.run` ran out. The transaction was rolled back; the same request may well
    succeed if sent again (over HTTP: a 503, not a 500)."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"the database aborted the transaction again and again (SQLSTATE {sqlstate})")
        self.sqlstate = sqlstate


class UnitOfWork(Protocol):
    async def run(self, function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run blocking work that uses this unit of work from the event loop. Work whose
        transaction the database aborted for a conflict with another one runs again whole, a few
        times, then raises :class:`DatabaseBusy`: it must do nothing outside its transactions that
        cannot be done twice (its caller counts, wakes and sends after it returns)."""
        ...

    async def read_long(self, function: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run long blocking work that only reads (reading a whole account, a large file) off
        the event loop, in a worker thread; an unreachable database is StorageUnavailable."""
        ...

    async def run_optimistic(self, prepare: Callable[P, R | Pending[R]], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run work that reads first (``prepare``, in read transactions) and may then have to
        write (a :class:`Pending` answer, whose ``write`` then runs like :meth:`run`'s work): the
        write transaction holds the database's writer only for the writes. Retried as :meth:`run`
        is: where both steps share one transaction, both run again."""
        ...

    def begin(self) -> AbstractContextManager[Transaction]:
        """One database transaction: commits on success, and on a ``CountedRefusal`` (then raises
        its error); rolls back on any other exception."""
        ...

    def read(self) -> AbstractContextManager[Transaction]:
        """A transaction that only reads (it never waits for writers)."""
        ...


class RateLimiter(Protocol):
    """Sliding windows: never more than ``limit`` hits in any ``window_s`` seconds (no window
    restarts on a calendar boundary). A refused hit counts nothing."""

    def hit(
        self, tx: Transaction, key: str, limit: int, window_s: int, now: datetime, cost: int = 1
    ) -> datetime | None:
        """Count ``cost`` hits (1 to ``limit``) at ``now`` and answer None; or, when the last
        ``window_s`` seconds hold more than ``limit - cost`` hits already, count nothing and
        answer the moment that many hits can succeed."""
        ...

    def spend_by(self, window_s: int, now: datetime) -> datetime:
        """Until when hits counted at ``now`` may be spent (a reservation: see
        :class:`vitalkey.flows.app_quota.AppQuota`) without any interval of ``window_s`` seconds
        holding more than the limit: the end of the span they are counted in."""
        ...

    def forgive(self, tx: Transaction, key: str, window_s: int, at: datetime, cost: int = 1) -> None:
        """Take back ``cost`` hits counted at ``at`` (an attempt counted before it was judged, then
        right; or what is left of a reservation, never spent)."""
        ...


class Mailer(Protocol):
    async def send(self, message: RenderedMail) -> None: ...


@dataclass(frozen=True, slots=True)
class RenderedMail:
    to: str
    sender: str
    subject: str
    text: str
    html: str
    message_id: str
    idempotency_key: str


class Events(Protocol):
    """Domain events, counted once where they happen (the metrics)."""

    def signed_up(self) -> None: ...
    def signed_in(self, method: str) -> None: ...
    def code_refused(self, reason: str) -> None:
        """An emailed, texted or recovery code refused; ``reason`` is the error's code."""
        ...

    def sms_completed(self, purpose: str) -> None:
        """A texted code entered right; ``purpose`` is "login" or "setup"."""
        ...

    def sms_refused(self, limit: str) -> None:
        """A text not sent because ``limit`` (a limit's name) was reached."""
        ...


@dataclass(frozen=True, slots=True)
class UpstreamClaims:
    """What a checked ID token (and, for Apple, the first authorization's posted name) says."""

    provider: str  # the configured provider's id ("google", "apple", "acme")
    issuer: str
    subject: str
    email: str | None
    email_verified: bool  # Apple sends "true"/"false" strings, and is_private_email: normalised here
    given_name: str | None
    family_name: str | None


@dataclass(frozen=True, slots=True)
class UpstreamStart:
    """Where to send the browser, and what the callback must check (kept in the flow's context,
    never in a cookie the user can edit)."""

    url: str
    state: str
    nonce: str
    code_verifier: str


class UpstreamProvider(Protocol):
    id: str
    display_name: str  # "Google", "Apple", "Acme SSO"
    trusted_for_second_factor: bool  # off by default: 2FA still applies after this first factor

    async def start(self, redirect_uri: str, state: str | None = None) -> UpstreamStart:
        """Where to send the browser; ``state``: the caller's own (an app's sign-in seals its flow
        in it, web/federation_api.py), else a random one."""
        ...

    async def finish(
        self, *, code: str, redirect_uri: str, expected: UpstreamStart, posted_user: str | None = None
    ) -> UpstreamClaims:
        """Exchange the code (PKCE verifier), check the ID token, return its claims; raise a
        domain error (domain/errors.py: UpstreamRefused with a reason code, never a 500) for any
        refusal."""
