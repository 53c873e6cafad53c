"""JSON API bodies as msgspec Structs: validated on the way in, the source of the OpenAPI schema."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct

Email = Annotated[str, Meta(min_length=1, max_length=320, description="An email address (at most 254 characters)")]
Code = Annotated[str, Meta(min_length=1, max_length=32, description="The 6-digit code from the mail")]
Name = Annotated[str, Meta(max_length=200)]


class FieldError(Struct):
    field: str
    message: str


class Error(Struct):
    error: str
    message: str
    field: str | None = None
    errors: list[FieldError] = msgspec.field(default_factory=list)  # every wrong field, the first included


class StartFlow(Struct, forbid_unknown_fields=True):
    email: Email
    method: Annotated[
        Literal["code", "password"],
        Meta(description='Sign-in only: "password" goes straight to the password, without mailing a code'),
    ] = "code"
    app: (
        Annotated[
            str,
            Meta(
                min_length=1,
                max_length=64,
                description="Sign-in only: the registered app signing in (GET /api/v1/apps); an app that cannot ask "
                "for a second factor is refused with app_does_not_support_2fa when the account has 2FA on",
            ),
        ]
        | None
    ) = None


class AnswerSuggestion(Struct, forbid_unknown_fields=True):
    accept: bool


class SubmitCode(Struct, forbid_unknown_fields=True):
    code: Code


# Long enough for any password we take (the rules allow up to 1,024 code points; 4 bytes each).
Password = Annotated[str, Meta(max_length=4096)]


class SubmitPassword(Struct, forbid_unknown_fields=True):
    password: Password


class StrengthQuery(Struct, forbid_unknown_fields=True):
    password: Password
    email: Annotated[str, Meta(max_length=320, description="The user's address: counted as a known word")] = ""
    names: Annotated[
        list[Annotated[str, Meta(max_length=200)]],
        Meta(max_length=4, description="The user's names, as the account page knows them: counted as known words"),
    ] = msgspec.field(default_factory=list)
    birth_date: date | None = msgspec.field(default=None)


class StrengthOut(Struct):
    score: Annotated[int, Meta(ge=0, le=4, description="0 (very weak) to 4 (very strong); below 3 under 15 characters")]
    label: Literal["very_weak", "weak", "fair", "strong", "very_strong"]
    text: str  # the label in the request's language
    length: int  # in Unicode code points after NFKC
    recommended_length: int
    warning: str  # zxcvbn's hint, in English; may be empty


class ResetPassword(Struct, forbid_unknown_fields=True):
    token: Annotated[str, Meta(min_length=1, max_length=128, description="The last part of the link in the mail")]
    password: Password
    end_other_sessions: bool = True


class SetPassword(Struct, forbid_unknown_fields=True):
    flow_id: Annotated[str, Meta(min_length=1, max_length=64)]
    code: Code
    password: Password


class ChangePassword(Struct, forbid_unknown_fields=True):
    current_password: Password
    new_password: Password
    end_other_sessions: bool = False


class PasswordSaved(Struct):
    strength: StrengthOut
    sessions_ended: int


class AcceptPolicy(Struct, forbid_unknown_fields=True):
    accept: bool
    policy_version: Annotated[str, Meta(max_length=32)] | None = None


class Details(Struct, forbid_unknown_fields=True):
    first_name: Name
    last_name: Name
    birth_date: Annotated[str, Meta(max_length=10, description="YYYY-MM-DD")]
    sex: Literal["female", "male"]
    units: Literal["metric", "imperial"]
    height_cm: Annotated[float, Meta(ge=0, le=1000)]


class TwoFactorChoice(Struct, forbid_unknown_fields=True):
    choice: Literal["skip", "setup"]


class SmsRefused(Struct):
    """The second factor's text that was not sent: why, in the user's language, and when to try
    again (whole seconds, as a 429's Retry-After). The recovery code works meanwhile."""

    error: str  # "sms_limited" | "sms_unavailable"
    message: str
    retry_after: int


class FlowOut(Struct):
    id: str
    kind: str
    state: str
    email: str
    expires_at: datetime
    actions: list[str]
    suggestion: str | None = None
    code_expires_at: datetime | None = None
    resend_available_at: datetime | None = None
    attempts_left: int | None = None
    policy_version: str | None = None
    second_factor: str | None = None  # the account's second factor ("sms") in the second-factor step
    phone_hint: str | None = None  # the number the code went to, masked: "+33 •••• 78"
    sms_refused: SmsRefused | None = None  # with the method "sms": no text was sent (a limit), see SmsRefused
    method: str | None = None  # sign-in: the method of the factor step ("email_code", "password", "sms", …)
    # With the method "passkey": the options for navigator.credentials.get (WebAuthn JSON); a
    # refused answer uses them up, and this answer (GET the flow) then holds new ones.
    options: dict[str, Any] | None = None

    methods: (
        Annotated[
            list[str],
            Meta(
                description="The second-factor step's \"Try another way\": the account's other methods, in the order "
                "to offer them (the recovery code last); POST one to /api/v1/login/{id}/method"
            ),
        ]
        | None
    ) = None


class AccountOut(Struct):
    id: int
    email: str
    language: str
    created_at: datetime
    first_name: str | None = None
    last_name: str | None = None
    birth_date: date | None = None
    sex: str | None = None
    height_cm: float | None = None
    units: str | None = None
    has_password: bool = False
    password_changed_at: datetime | None = None
    two_factor: bool = False


class SignedIn(Struct):
    session_token: str
    expires_at: datetime
    account: AccountOut


class SignedInWithRecovery(SignedIn):
    new_recovery_code: str = ""  # the used one is spent: show this one and ask the user to keep it


RecoveryCode = Annotated[str, Meta(min_length=1, max_length=64, description="ABCD-EFGH-JKMN-PQRS")]


class SubmitRecovery(Struct, forbid_unknown_fields=True):
    recovery_code: RecoveryCode


class ChooseMethod(Struct, forbid_unknown_fields=True):
    method: Annotated[str, Meta(min_length=1, max_length=32, description='"sms", "recovery_code", "password", …')]


class PhoneIn(Struct, forbid_unknown_fields=True):
    phone: Annotated[str, Meta(min_length=1, max_length=64, description="Mobile number, best with +country code")]
    country: Annotated[str, Meta(max_length=2, description="ISO country for a number without +code")] = ""


class TwoFactorOut(Struct):
    enabled: bool
    method: str | None = None
    phone_hint: str | None = None
    enabled_at: datetime | None = None
    recovery_issued_at: datetime | None = None
    fresh_until: datetime | None = None  # changes need a sign-in this recent, with the second factor
    countries: list[str] = []  # where texts may go


class SetupOut(Struct):
    flow_id: str
    state: Literal["enrolling", "recovery_shown", "complete", "dead"]
    phone_hint: str
    actions: list[str]
    code_expires_at: datetime | None = None
    resend_available_at: datetime | None = None
    attempts_left: int | None = None
    recovery_code: str | None = None  # once 2FA is on: keep it somewhere safe, not on the phone


class RecoveryCodeOut(Struct):
    recovery_code: str
    issued_at: datetime


class TwoFactorDisabled(Struct):
    app_passwords_revoked: int


class AppOut(Struct):
    client_id: str
    name: str
    first_party: bool
    supports_2fa: bool


class AppList(Struct):
    apps: list[AppOut]


class NewAppPassword(Struct, forbid_unknown_fields=True):
    app: Annotated[str, Meta(min_length=1, max_length=64, description="client_id of an app without 2FA support")]
    name: Annotated[str, Meta(max_length=100)] = ""


class AppPasswordOut(Struct):
    id: str
    app: str
    name: str
    created_at: datetime
    last_used_at: datetime | None = None


class AppPasswordList(Struct):
    app_passwords: list[AppPasswordOut]


class CreatedAppPasswordOut(AppPasswordOut):
    password: str = ""  # shown this once; only a digest is kept


class ClientIn(Struct, forbid_unknown_fields=True):
    name: Annotated[str, Meta(min_length=1, max_length=100)]
    redirect_uris: Annotated[list[Annotated[str, Meta(max_length=500)]], Meta(min_length=1, max_length=20)]
    scopes: Annotated[list[Annotated[str, Meta(max_length=32)]], Meta(min_length=1, max_length=10)]
    client_type: Literal["confidential", "public"] = "confidential"
    first_party: bool = False
    supports_2fa: bool = True
    logo_url: Annotated[str, Meta(max_length=500)] = ""
    policy_url: Annotated[str, Meta(max_length=500)] = ""
    client_id: Annotated[str, Meta(max_length=64)] = ""


class ClientOut(Struct):
    client_id: str
    name: str
    client_type: str
    first_party: bool
    supports_2fa: bool
    redirect_uris: list[str]
    scopes: list[str]
    logo_url: str
    policy_url: str
    created_at: datetime
    has_secret: bool


class ClientCreated(ClientOut):
    client_secret: str | None = None  # shown this once


class ClientList(Struct):
    clients: list[ClientOut]


class SubscriptionOut(Struct):
    """A user's notification subscription of the client; ``failing_since``: when its deliveries
    failed a whole retry schedule (None while they succeed)."""

    userid: int
    appli: int
    callbackurl: str
    comment: str
    created_at: datetime
    failing_since: datetime | None


class SubscriptionList(Struct):
    subscriptions: list[SubscriptionOut]  # failing ones first


class ClientSecret(Struct):
    client_id: str
    client_secret: str


class ProfileUpdate(Details, forbid_unknown_fields=True):
    language: Literal["en", "de", "fr", "ja", "zh-Hans"] | None = None


class SessionOut(Struct):
    id: str
    kind: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    ip: str
    user_agent: str
    device: str  # the user agent in words, in the request's language ("Chrome on Linux")
    current: bool


class SessionList(Struct):
    sessions: list[SessionOut]


class Ended(Struct):
    ended: int


class Health(Struct):
    status: str


def to_builtins(value: Struct) -> object:
    return msgspec.to_builtins(value)


class ConnectedAppOut(Struct):
    client_id: str
    name: str
    scopes: list[str]
    first_allowed_at: datetime
    last_used_at: datetime | None = None
    logo_url: str = ""
    policy_url: str = ""
    notified: bool = False  # the app receives notifications of new data


class ConnectedAppList(Struct):
    connected_apps: list[ConnectedAppOut]


# Health data: the companion app's ingestion (moments in Unix seconds, local days as YYYY-MM-DD,
# measures as integers: value × 10^unit) ------------------------------------------------------------
Epoch = Annotated[int, Meta(ge=-60_000_000_000, le=250_000_000_000, description="Unix time, in seconds")]
DeviceRef = Annotated[
    str, Meta(min_length=1, max_length=64, description="The deviceid the server gave at pairing (POST /devices)")
]
TimeZone = Annotated[str, Meta(min_length=1, max_length=64, description="An IANA time zone name, e.g. Europe/Paris")]
Integer64 = Annotated[int, Meta(ge=-(2**63), le=2**63 - 1)]
DataFields = Annotated[
    dict[Annotated[str, Meta(max_length=64)], int | float],
    Meta(max_length=64, description="Withings' data fields of this record (steps, distance, calories, …)"),
]


class HealthMeasure(Struct, forbid_unknown_fields=True):
    type: Annotated[int, Meta(ge=0, le=100_000, description="A Withings meastype (1 weight, 4 height, …)")]
    value: Integer64
    unit: Annotated[int, Meta(ge=-100, le=100, description="The power of ten: real value = value × 10^unit")]


class MeasureGroupIn(Struct, forbid_unknown_fields=True):
    date: Epoch
    measures: Annotated[list[HealthMeasure], Meta(max_length=100)]
    category: Annotated[int, Meta(ge=0, le=100, description="1 real, 2 objective")] = 1
    attrib: (
        Annotated[int, Meta(ge=0, le=100, description="0 device, 2 manual, …; default 0 with a device, else 2")] | None
    ) = None
    timezone: TimeZone | None = None
    deviceid: DeviceRef | None = None
    comment: Annotated[str, Meta(max_length=500)] | None = None


class ActivityDayIn(Struct, forbid_unknown_fields=True):
    date: date
    data: DataFields
    timezone: TimeZone | None = None
    deviceid: DeviceRef | None = None
    brand: Annotated[int, Meta(ge=0, le=100, description="1 Withings, 18 external")] = 1
    is_tracker: bool = True


class IntradaySampleIn(Struct, forbid_unknown_fields=True):
    at: Epoch
    deviceid: DeviceRef
    data: DataFields


class WorkoutIn(Struct, forbid_unknown_fields=True):
    category: Annotated[int, Meta(ge=0, le=100_000, description="Withings' workout category (1 walk, 2 run, …)")]
    startdate: Epoch
    enddate: Epoch
    data: DataFields = msgspec.field(default_factory=dict)
    date: date | None = None
    timezone: TimeZone | None = None
    deviceid: DeviceRef | None = None
    attrib: Annotated[int, Meta(ge=0, le=100)] = 0


class SleepStateIn(Struct, forbid_unknown_fields=True):
    startdate: Epoch
    enddate: Epoch
    state: Annotated[int, Meta(ge=0, le=100, description="0 awake, 1 light, 2 deep, 3 REM, 4 manual, …")]


class SleepSessionIn(Struct, forbid_unknown_fields=True):
    startdate: Epoch
    enddate: Epoch
    states: Annotated[list[SleepStateIn], Meta(max_length=10_000)] = msgspec.field(default_factory=list)
    series: Annotated[
        dict[Annotated[str, Meta(max_length=64)], dict[Epoch, Integer64]],
        Meta(max_length=16, description='Per-second series (hr, rr, snoring, …): {"hr": {"<epoch>": 52}}'),
    ] = msgspec.field(default_factory=dict)
    summary: DataFields = msgspec.field(default_factory=dict)
    timezone: TimeZone | None = None
    deviceid: DeviceRef | None = None
    completed: bool = True


class BloodPressureIn(Struct, forbid_unknown_fields=True):
    systole: Annotated[int, Meta(ge=0, le=1000)]
    diastole: Annotated[int, Meta(ge=0, le=1000)]


class HeartRecordingIn(Struct, forbid_unknown_fields=True):
    at: Epoch
    heart_rate: Annotated[int, Meta(ge=0, le=1000)]
    afib: Annotated[int, Meta(ge=0, le=100, description="0 negative, 1 positive, 2 inconclusive")]
    signal: Annotated[list[Integer64], Meta(max_length=200_000, description="The ECG in µV")]
    sampling_frequency: Annotated[int, Meta(ge=0, le=100_000, description="Hz")]
    wearposition: Annotated[int, Meta(ge=0, le=100)] = 0
    timezone: TimeZone | None = None
    deviceid: DeviceRef | None = None
    bloodpressure: BloodPressureIn | None = None


class BatchIn(Struct, forbid_unknown_fields=True):
    """At most 5,000 items in all (413 beyond)."""

    measure_groups: list[MeasureGroupIn] = msgspec.field(default_factory=list)
    activity: list[ActivityDayIn] = msgspec.field(default_factory=list)
    intraday: list[IntradaySampleIn] = msgspec.field(default_factory=list)
    workouts: list[WorkoutIn] = msgspec.field(default_factory=list)
    sleep: list[SleepSessionIn] = msgspec.field(default_factory=list)
    heart: list[HeartRecordingIn] = msgspec.field(default_factory=list)
    # History the app imports (a device's stored readings after pairing), not live data: partners'
    # notifications say so (``backfill=1``).
    backfill: bool = False


class BatchOut(Struct):
    """The ids given, in the batch's order (the same answer again for a replay)."""

    grpids: list[int]
    activity_ids: list[int]
    intraday_samples: int
    workout_ids: list[int]
    sleep_ids: list[int]
    signalids: list[int]


class DeviceIn(Struct, forbid_unknown_fields=True):
    type: Literal["Scale", "Activity Tracker", "Blood Pressure Monitor", "Sleep Monitor", "Smart Connected Thermometer"]
    model: Annotated[str, Meta(min_length=1, max_length=100)]
    model_id: Annotated[int, Meta(ge=0, le=2**31 - 1)]
    timezone: TimeZone
    battery: Literal["high", "medium", "low", "unknown"] = "unknown"


class DeviceUpdate(Struct, forbid_unknown_fields=True):
    battery: Literal["high", "medium", "low", "unknown"] | None = None
    timezone: TimeZone | None = None


class DeviceOut(Struct):
    deviceid: str
    hash_deviceid: str
    type: str
    model: str
    model_id: int
    battery: str
    timezone: str
    created: int
    modified: int
    first_session_date: int | None = None
    last_session_date: int | None = None


class DeviceList(Struct):
    devices: list[DeviceOut]


class Unpaired(Struct):
    deviceid: str


class MeasureGroupEdit(Struct, forbid_unknown_fields=True):
    date: Epoch | None = None
    measures: Annotated[list[HealthMeasure], Meta(max_length=100)] | None = None
    comment: Annotated[str, Meta(max_length=500, description='"" removes the comment')] | None = None


class MeasureGroupOut(Struct):
    grpid: int
    date: int
    timezone: str
    attrib: int
    category: int
    created: int
    modified: int
    measures: list[HealthMeasure]
    deviceid: str | None = None
    comment: str | None = None


class MeasureGroupDeleted(Struct):
    grpid: int
    deleted: int  # when, in Unix seconds (also its ``modified``: ``lastupdate`` readers see it)


class WeightGoalIO(Struct, forbid_unknown_fields=True):
    value: Integer64
    unit: Annotated[int, Meta(ge=-100, le=100)]


class GoalsIn(Struct, forbid_unknown_fields=True):
    steps: Annotated[int, Meta(ge=0, le=2**31 - 1, description="Steps a day")]
    sleep: Annotated[int, Meta(ge=0, le=2**31 - 1, description="Seconds of sleep a night")]
    weight: WeightGoalIO | None = None


class GoalsOut(Struct):
    steps: int
    sleep: int
    weight: WeightGoalIO | None = None
    modified: int | None = None  # None: never set (the defaults)


class AccountDeleteIn(Struct, forbid_unknown_fields=True):
    confirmation: Annotated[
        str, Meta(max_length=254, description="The account's email address, typed by the user (any case)")
    ]


class AccountDeleted(Struct):
    deleted: bool
    apps_told: Annotated[int, Meta(description="Callback URLs of partner apps that will hear appli 46 action=delete")]


class ExportOut(Struct):
    """A "Download my data" export."""

    id: Annotated[str, Meta(description="Random; the download link's last part")]
    status: Annotated[str, Meta(description="pending (being built), ready or failed")]
    created_at: datetime
    ready_at: datetime | None = None
    expires_at: Annotated[datetime | None, Meta(description="The download works until then")] = None
    records: Annotated[int, Meta(description="Health records in it (0 while pending)")] = 0
    size: Annotated[int, Meta(description="Bytes of the ZIP (0 while pending)")] = 0
    download_url: Annotated[str | None, Meta(description="GET it (with the bearer token) once ready")] = None


# Authenticator apps (TOTP) ------------------------------------------------------------------
class TotpSetupStarted(Struct):
    """A new secret for an authenticator app: add it (the URI as a QR code, or the key typed), then
    send the app's first code to ``/api/v1/account/authenticators/totp/{flow_id}``."""

    flow_id: str
    secret: Annotated[
        str, Meta(description="The key in base 32, for an app that cannot scan (shown in groups of four)")
    ]
    uri: Annotated[str, Meta(description="The otpauth://totp/ URI: what the QR code holds")]
    replacing: Annotated[bool, Meta(description="The account has an app already: this one replaces it once confirmed")]
    expires_at: datetime


class TotpAppOut(Struct):
    """An account's authenticator app (never its secret)."""

    id: int
    kind: Literal["totp"]
    name: str
    created_at: datetime
    last_used_at: datetime | None
    is_default: bool


class TotpSetupDone(Struct):
    authenticator: TotpAppOut
    two_factor_enabled: Annotated[bool, Meta(description="This app turned two-factor authentication on")]
    replaced: Annotated[bool, Meta(description="It replaced the account's previous app")]
    recovery_code: Annotated[
        str | None, Meta(description="When 2FA turned on: shown once here; keep it somewhere safe, not on the phone")
    ] = None


# Passkeys ------------------------------------------------------------------------------------
PasskeyCredential = Annotated[
    dict[str, Any],
    Meta(description="The browser's PublicKeyCredential as JSON (credential.toJSON()): id, rawId, type, response, …"),
]


class SubmitPasskey(Struct, forbid_unknown_fields=True):
    credential: PasskeyCredential


class NewPasskeyIn(Struct, forbid_unknown_fields=True):
    name: Annotated[str, Meta(max_length=100, description='What the user calls it: "Work laptop"')] = ""


class PasskeyEnrolmentOut(Struct):
    id: str  # the enrolment to answer (POST …/passkeys/{id})
    expires_at: datetime
    options: dict[str, Any]  # for navigator.credentials.create (WebAuthn JSON)


class ConfirmPasskey(Struct, forbid_unknown_fields=True):
    credential: PasskeyCredential
    name: Annotated[str, Meta(max_length=100, description="Replaces the name given at the start")] | None = None


class PasskeyOut(Struct):
    id: int
    kind: str
    name: str
    created_at: datetime
    last_used_at: datetime | None = None
    backup_eligible: bool = False
    backed_up: bool = False
    transports: list[str] = []


# Account & Security → sign-in methods (GET/PATCH/DELETE /api/v1/account/authenticators) ------
class AuthenticatorOut(Struct):
    id: int
    kind: str  # "sms", "totp", "passkey", …
    label: str  # the kind's name, in the request's language ("Text message")
    name: str  # the name the user gave it ("Work laptop"), or for a text message the masked number
    created_at: datetime
    last_used_at: datetime | None
    is_default: bool  # the second factor a sign-in asks for first
    can_make_default: bool
    can_rename: bool


class AuthenticatorList(Struct):
    authenticators: list[AuthenticatorOut]  # the recovery code is not listed (its own endpoint)
    two_factor: bool


class AuthenticatorChange(Struct, forbid_unknown_fields=True):
    name: Annotated[str, Meta(max_length=100, description='A new name; "" for the kind\'s own label')] | None = None
    default: (
        Annotated[
            Literal[True], Meta(description="Make it the default second factor (its mail is sent to the address)")
        ]
        | None
    ) = None


class AuthenticatorRemoved(Struct):
    removed: int
    two_factor: bool  # still on: false when this was the last text message or authenticator app
    app_passwords_revoked: int  # revoked with 2FA


# Sign-in with an upstream provider, from an app (web/federation_api.py) ---------------------
class ProviderOut(Struct):
    id: str  # for POST /api/v1/login/with/{id}
    kind: Literal["google", "apple", "oidc"]  # which button to draw: Google's, Apple's, or one with the name
    name: str  # "Google", "Apple", "Acme SSO"
    logo_url: str | None = None  # an https logo, when the operator configured one


class ProviderList(Struct):
    providers: list[ProviderOut]  # in the configured order; empty when none is configured


class FederatedStart(Struct, forbid_unknown_fields=True):
    app: Annotated[str, Meta(min_length=1, max_length=64, description="The registered app signing in (its client_id)")]
    return_to: Annotated[
        str,
        Meta(
            min_length=1,
            max_length=500,
            description="One of the app's registered redirect URIs: the browser is sent there with ?code= "
            "(the exchange code), or ?error= when the sign-in was refused",
        ),
    ]


class FederatedStarted(Struct):
    id: str  # the sign-in flow: keep it, it is not in any URL
    url: str  # open it in the system browser (the provider's sign-in page)
    expires_at: datetime


class FederatedExchange(Struct, forbid_unknown_fields=True):
    code: Annotated[
        str, Meta(min_length=1, max_length=128, description="The exchange code the browser brought to return_to")
    ]


class FederatedAddress(Struct, forbid_unknown_fields=True):
    email: Email


class FederatedLink(Struct, forbid_unknown_fields=True):
    flow: Annotated[
        str,
        Meta(min_length=1, max_length=64, description="The sign-in flow whose exchange answered account_exists"),
    ]


class LinkedIdentityOut(Struct):
    id: int
    kind: str  # "federated"
    provider: str  # the provider's id
    name: str  # the provider's name
    created_at: datetime
