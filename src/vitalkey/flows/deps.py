"""What the flows need from the composition root, in one place."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from vitalkey.domain.codes import CodePolicy
from vitalkey.domain.passwords import PasswordPolicy
from vitalkey.domain.sessions import SessionPolicy
from vitalkey.ports import Clock, Events, PasswordHasher, RateLimiter, Sealer, UnitOfWork


@dataclass(frozen=True, slots=True)
class MailLimits:
    per_address: tuple[int, int]
    per_ip: tuple[int, int]


@dataclass(frozen=True, slots=True)
class SmsLimits:
    """Toll-fraud defences: (count, seconds) per number, range, country, network and account."""

    per_number: tuple[int, int]
    per_range: tuple[int, int]
    per_country: tuple[int, int]
    per_ip: tuple[int, int]
    per_account: tuple[int, int]
    daily_cap: int


@dataclass(frozen=True, slots=True)
class TwoFactorConfig:
    sms_limits: SmsLimits
    regions: frozenset[str]  # countries texts may go to
    reauth_window: timedelta  # how recent a sign-in must be to change the second factor
    recovery_failures: tuple[int, int]  # wrong recovery codes per account: (count, seconds)
    sealer: Sealer


@dataclass(frozen=True, slots=True)
class FlowDeps:
    uow: UnitOfWork
    clock: Clock
    limiter: RateLimiter
    secret: bytes
    code_policy: CodePolicy
    session_policy: SessionPolicy
    flow_ttl: timedelta
    mail_limits: MailLimits
    code_failure_limit: tuple[int, int]  # wrong codes per address: (count, seconds)
    policy_version: str
    public_url: str
    password_policy: PasswordPolicy
    hasher: PasswordHasher
    is_common_password: Callable[[str], bool]
    password_limit_per_ip: tuple[int, int]  # password attempts per IP network: (count, seconds)
    upstream_limit_per_ip: tuple[int, int]  # sign-ins with a provider started per IP network: (count, seconds)
    two_factor: TwoFactorConfig
    events: Events  # counted once, where each happens
