"""The composition root: everything is built here from one Settings object; no module globals."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine

from vitalkey.adapters import secrets
from vitalkey.adapters.clock import SystemClock
from vitalkey.adapters.db import migrate
from vitalkey.adapters.db.engine import make_engine
from vitalkey.adapters.db.uow import SqlUnitOfWork
from vitalkey.adapters.mail.render import MailRenderer
from vitalkey.adapters.mail.senders import ConsoleSender, DevMailbox, FanOut, MailSender, SmtpSender
from vitalkey.adapters.passwords import Argon2Hasher, CommonPasswords
from vitalkey.adapters.policy import PrivacyPolicy, load_privacy_policy
from vitalkey.adapters.ratelimit import RedisRateLimiter, SqlRateLimiter
from vitalkey.adapters.relay import OutboxRelay
from vitalkey.adapters.sealing import FernetSealer
from vitalkey.adapters.sms import DevSmsOutbox, FailoverSms, SmsRenderer, TwilioGateway
from vitalkey.adapters.upstream import upstream_providers
from vitalkey.adapters.webhooks import HttpCallbackSender
from vitalkey.domain.codes import CodePolicy
from vitalkey.domain.notifications import CallbackPolicy
from vitalkey.domain.oauth import TokenPolicy
from vitalkey.domain.passwords import PasswordPolicy
from vitalkey.domain.sessions import SessionPolicy
from vitalkey.flows.account import AccountService
from vitalkey.flows.account_deletion import AccountDeletion
from vitalkey.flows.authenticators import Authenticators
from vitalkey.flows.authenticators.app_password import AppPasswordKind
from vitalkey.flows.authenticators.email_code import EmailCode
from vitalkey.flows.authenticators.federated import FederatedKind
from vitalkey.flows.authenticators.passkey import PasskeyKind
from vitalkey.flows.authenticators.password import Password
from vitalkey.flows.authenticators.recovery_code import RecoveryCode
from vitalkey.flows.authenticators.sms import Sms
from vitalkey.flows.authenticators.totp import TotpKind
from vitalkey.flows.authorize import AuthorizeRequests
from vitalkey.flows.clients import AppRegistry
from vitalkey.flows.connected_apps import ConnectedApps
from vitalkey.flows.dashboard import Dashboard
from vitalkey.flows.data_export import DataExports, ExportWorker
from vitalkey.flows.data_import import DataImport, ImportLimits
from vitalkey.flows.deps import FlowDeps, MailLimits, SmsLimits, TwoFactorConfig
from vitalkey.flows.federation import Federation
from vitalkey.flows.health_ingest import HealthIngest
from vitalkey.flows.health_reads import HealthReads
from vitalkey.flows.login import LoginFlow
from vitalkey.flows.manual_entries import ManualEntries
from vitalkey.flows.methods import SignInMethods
from vitalkey.flows.notify import NotifyService
from vitalkey.flows.notify_delivery import DeliveryWorker
from vitalkey.flows.notify_outbox import ChangeNotifier
from vitalkey.flows.passkey_enrolment import PasskeyEnrolment
from vitalkey.flows.password_reset import PasswordResets
from vitalkey.flows.password_settings import PasswordChange, PasswordSetFlow
from vitalkey.flows.relying_party import RelyingParty
from vitalkey.flows.sessions import SessionService
from vitalkey.flows.signup import SignupFlow
from vitalkey.flows.totp_setup import TotpSetup
from vitalkey.flows.two_factor import AppPasswords, TwoFactorSetup
from vitalkey.oauth.keys import SigningKeys
from vitalkey.oauth.provider import OAuthProvider
from vitalkey.oauth.withings import WithingsOAuth
from vitalkey.observability import MetricEvents
from vitalkey.ports import Clock, RateLimiter, SmsSender
from vitalkey.settings import Settings, longest_rate_window_s, parse_limit


@dataclass
class Container:
    settings: Settings
    engine: Engine
    uow: SqlUnitOfWork
    clock: Clock
    deps: FlowDeps
    signup: SignupFlow
    login: LoginFlow
    password_set: PasswordSetFlow
    password_change: PasswordChange
    password_resets: PasswordResets
    sessions: SessionService
    accounts: AccountService
    account_deletion: AccountDeletion
    two_factor: TwoFactorSetup
    totp_setup: TotpSetup  # Account & Security → Two-factor authentication → "Authenticator app"
    app_passwords: AppPasswords
    relying_party: RelyingParty  # passkeys: from public_url; ``applies`` false on an IP or plain http
    passkey_enrolment: PasskeyEnrolment  # Account & Security → "Add a passkey"
    sign_in_methods: SignInMethods  # Account & Security: the list of methods, default, rename, remove
    federation: Federation  # upstream sign-ins (Google, Apple, OIDC): what they lead to, link, unlink
    apps: AppRegistry
    connected_apps: ConnectedApps
    health_ingest: HealthIngest  # the companion app's devices, batches, edits and goals
    authorize_requests: AuthorizeRequests
    oauth: OAuthProvider
    withings: WithingsOAuth
    health_reads: HealthReads  # the Withings data API's reads
    dashboard: Dashboard  # the Online Dashboard's reads of the user's own data
    manual_entries: ManualEntries  # measurements entered by hand on the web pages
    data_import: DataImport  # a VitalKey or Withings export's history, imported through health_ingest
    notify: NotifyService  # the Withings /notify API: partners' subscriptions
    callbacks: HttpCallbackSender  # outgoing HTTP to partners' callback URLs (closed at shutdown)
    delivery_worker: DeliveryWorker  # sends the queued notifications (beside the relay)
    data_exports: DataExports  # "Download my data": asking, state, download
    export_worker: ExportWorker  # builds the large accounts' exports (beside the relay)
    signing_keys: SigningKeys
    relay: OutboxRelay
    sealer: FernetSealer
    privacy_policy: PrivacyPolicy  # the operator's text per language, or the built-in one
    web_key: bytes  # signs CSRF tokens and binds flows to a browser
    dev_mailbox: DevMailbox | None  # dev mode only: the mail shown at /dev/mail
    dev_sms: DevSmsOutbox | None  # dev mode without a gateway: the texts shown at /dev/sms

    def close(self) -> None:
        self.engine.dispose()


@functools.cache
def common_passwords() -> frozenset[str]:
    """The list, loaded once per process on first use (an immutable set: every container shares it)."""
    return CommonPasswords().entries


def is_common_password(folded_password: str) -> bool:
    return folded_password in common_passwords()


def build(
    settings: Settings,
    *,
    clock: Clock | None = None,
    sender: MailSender | None = None,
    sms_sender: SmsSender | None = None,
) -> Container:
    # read first: a bad file stops the start before anything is opened
    privacy_policy = load_privacy_policy(settings.privacy_policy_dir, settings.privacy_policy_version)
    clock = clock or SystemClock()
    engine = make_engine(settings.effective_database_url)
    if settings.auto_migrate:
        migrate.upgrade(engine)
    master = secrets.load_or_create(settings.secret_key, settings.data_dir)
    sealer = FernetSealer.from_settings(settings.encryption_keys, master)
    limiter: RateLimiter = (
        RedisRateLimiter(settings.redis_url, settings.redis_prefix) if settings.redis_url else SqlRateLimiter()
    )
    renderer = MailRenderer(settings.brand, settings.mail_from, settings.public_url.rstrip("/"))
    dev_sms = DevSmsOutbox(engine, clock) if settings.dev_mode and not settings.sms_provider_url else None
    relay = OutboxRelay(
        engine,
        renderer,
        sender or default_sender(settings, engine),
        clock,
        key=secrets.derive(master, "outbox"),
        batch=settings.relay_batch,
        max_attempts=settings.relay_max_attempts,
        poll_s=settings.relay_poll_s,
        sms_sender=sms_sender or dev_sms or default_sms_sender(settings),
        sms_renderer=SmsRenderer(settings.brand, settings.public_url),
        rate_counts_kept=timedelta(seconds=longest_rate_window_s(settings)),
    )

    def outbox_committed() -> None:  # mail, texts or notifications queued by a unit: wake who sends them
        relay.wake()
        delivery_worker.wake()

    uow = SqlUnitOfWork(engine, on_outbox_commit=outbox_committed)
    password_policy = PasswordPolicy(
        min_length=settings.password_min_length,
        max_length=settings.password_max_length,
        memory_kib=settings.argon2_memory_kib,
        time_cost=settings.argon2_time_cost,
        parallelism=settings.argon2_parallelism,
        reset_ttl=timedelta(seconds=settings.password_reset_ttl_s),
        context_words=(settings.brand,),
    )
    deps = FlowDeps(
        uow=uow,
        clock=clock,
        limiter=limiter,
        secret=secrets.derive(master, "codes"),
        code_policy=CodePolicy(
            ttl=timedelta(seconds=settings.code_ttl_s),
            max_attempts=settings.code_max_attempts,
            resend_cooldown=timedelta(seconds=settings.code_resend_cooldown_s),
            max_resends=settings.code_max_resends,
        ),
        session_policy=SessionPolicy(
            idle=timedelta(seconds=settings.session_idle_s),
            absolute=timedelta(seconds=settings.session_absolute_s),
            absolute_two_factor=timedelta(seconds=settings.session_absolute_two_factor_s),
            touch_every=timedelta(seconds=settings.session_touch_s),
        ),
        flow_ttl=timedelta(seconds=settings.flow_ttl_s),
        code_failure_limit=parse_limit(settings.code_failures_per_address),
        mail_limits=MailLimits(parse_limit(settings.mail_limit_per_address), parse_limit(settings.mail_limit_per_ip)),
        policy_version=settings.privacy_policy_version,
        public_url=settings.public_url.rstrip("/"),
        password_policy=password_policy,
        hasher=Argon2Hasher(password_policy),
        is_common_password=is_common_password,
        password_limit_per_ip=parse_limit(settings.password_attempts_per_ip),
        upstream_limit_per_ip=parse_limit(settings.upstream_starts_per_ip),
        two_factor=TwoFactorConfig(
            sms_limits=SmsLimits(
                per_number=parse_limit(settings.sms_limit_per_number),
                per_range=parse_limit(settings.sms_limit_per_range),
                per_country=parse_limit(settings.sms_limit_per_country),
                per_ip=parse_limit(settings.sms_limit_per_ip),
                per_account=parse_limit(settings.sms_limit_per_account),
                daily_cap=settings.sms_daily_cap,
            ),
            regions=frozenset(region.upper() for region in settings.sms_regions),
            reauth_window=timedelta(seconds=settings.reauth_window_s),
            recovery_failures=parse_limit(settings.recovery_failures_per_account),
            sealer=sealer,
        ),
        events=MetricEvents(),
    )
    token_policy = TokenPolicy(
        code_ttl=timedelta(seconds=settings.oauth_code_ttl_s),
        access_ttl=timedelta(seconds=settings.oauth_access_ttl_s),
        refresh_ttl=timedelta(seconds=settings.oauth_refresh_ttl_s),
        refresh_grace=timedelta(seconds=settings.oauth_refresh_grace_s),
        id_token_ttl=timedelta(seconds=settings.id_token_ttl_s),
    )
    signing_keys = SigningKeys(uow, clock, sealer, settings.id_token_alg, token_policy)
    callback_policy = CallbackPolicy(allow_http=settings.notify_allow_http, allow_local=settings.notify_allow_local)
    callbacks = HttpCallbackSender(callback_policy, settings.notify_timeout_s)
    delivery_worker = DeliveryWorker(deps, callbacks, sealer, poll_s=settings.relay_poll_s)
    oauth = OAuthProvider(
        uow,
        clock,
        issuer=settings.public_url,
        policy=token_policy,
        server_secret=deps.secret,
        sealer=sealer,
        keys=signing_keys,
    )
    health_ingest = HealthIngest(deps, ChangeNotifier(timedelta(seconds=settings.notify_coalesce_s)))
    data_exports = DataExports(
        deps, inline_limit=settings.export_inline_limit, link_ttl=timedelta(seconds=settings.export_link_ttl_s)
    )
    export_worker = ExportWorker(data_exports, poll_s=settings.relay_poll_s)
    data_exports.queued = export_worker.wake
    # The kinds of authenticator, one entry each, in the order a sign-in asks them: a second
    # factor is the account's default, then the first in this order (passkey, TOTP, SMS), the
    # recovery code last.
    totp = TotpKind(deps)
    relying_party = RelyingParty.from_public_url(settings.public_url, settings.brand, settings.passkey_extra_origins)
    passkey = PasskeyKind(deps, relying_party)
    # The configured upstream providers by id (issue #23: Google, Apple, OpenID Connect); their
    # sign-in pages and API come next, and the kind already guards the unlinking of identities.
    federated = FederatedKind(deps, upstream_providers(settings, clock))
    authenticators = Authenticators(
        (
            EmailCode(deps),
            Password(deps),
            AppPasswordKind(deps),
            passkey,
            totp,
            Sms(deps),
            federated,
            RecoveryCode(deps),
        )
    )
    sign_in_methods = SignInMethods(deps, authenticators)
    signup = SignupFlow(deps)
    return Container(
        settings=settings,
        engine=engine,
        uow=uow,
        clock=clock,
        deps=deps,
        signup=signup,
        login=LoginFlow(deps, authenticators),
        password_set=PasswordSetFlow(deps),
        password_change=PasswordChange(deps),
        password_resets=PasswordResets(deps),
        sessions=SessionService(deps),
        accounts=AccountService(deps),
        account_deletion=AccountDeletion(deps),
        two_factor=TwoFactorSetup(deps),
        totp_setup=TotpSetup(deps, totp),
        app_passwords=AppPasswords(deps),
        relying_party=relying_party,
        passkey_enrolment=PasskeyEnrolment(deps, passkey),
        sign_in_methods=sign_in_methods,
        federation=Federation(deps, federated, signup, sign_in_methods),
        apps=AppRegistry(deps),
        connected_apps=ConnectedApps(deps),
        health_ingest=health_ingest,
        manual_entries=ManualEntries(deps, health_ingest),
        data_import=DataImport(
            deps,
            health_ingest,
            ImportLimits(settings.import_max_bytes, settings.import_max_unpacked_bytes, settings.import_max_files),
        ),
        authorize_requests=AuthorizeRequests(deps),
        oauth=oauth,
        withings=WithingsOAuth(oauth),
        health_reads=HealthReads(deps, settings.withings_requests_per_minute),
        dashboard=Dashboard(deps),
        notify=NotifyService(deps, callbacks, callback_policy),
        callbacks=callbacks,
        delivery_worker=delivery_worker,
        data_exports=data_exports,
        export_worker=export_worker,
        signing_keys=signing_keys,
        relay=relay,
        sealer=sealer,
        privacy_policy=privacy_policy,
        web_key=secrets.derive(master, "web"),
        dev_mailbox=DevMailbox(engine) if settings.dev_mode else None,
        dev_sms=dev_sms,
    )


def default_sms_sender(settings: Settings) -> SmsSender | None:
    """The gateway, and a second one to fail over to when it is configured."""
    s = settings
    configured = [
        ("primary", s.sms_provider_url, s.sms_account_sid, s.sms_auth_token, s.sms_from),
        ("fallback", s.sms_fallback_url, s.sms_fallback_account_sid, s.sms_fallback_auth_token, s.sms_fallback_from),
    ]
    gateways: list[SmsSender] = [
        TwilioGateway(url, sid, token, sender, timeout_s=s.sms_timeout_s, name=name)
        for name, url, sid, token, sender in configured
        if url
    ]
    return FailoverSms(gateways) if gateways else None


def default_sender(settings: Settings, engine: Engine) -> MailSender:
    senders: list[MailSender] = []
    if settings.smtp_host:
        senders.append(
            SmtpSender(
                settings.smtp_host,
                settings.smtp_port,
                settings.smtp_security,
                settings.smtp_username,
                settings.smtp_password,
                settings.smtp_timeout_s,
                settings.smtp_ca_file,
            )
        )
    if settings.dev_mode:
        senders.append(DevMailbox(engine))
        if settings.mail_console:
            senders.append(ConsoleSender())
    return FanOut(*senders)
