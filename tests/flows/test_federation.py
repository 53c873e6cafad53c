"""Federated identities and links (issue #23 items 3 and 5) on both engines, against a small fake
``UpstreamProvider`` (the real ones are the upstream adapter's): a linked identity signs in; a new
one with a verified free address signs up without a code, an unverified or missing one with the
code; an account's verified address is never linked without proof, then is after a fresh sign-in
(with the second factor when the account has one) and signs in by federation next time; an
identity linked elsewhere is refused; unlinking keeps a way to sign in; every link and unlink is
audited and mailed."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text

from tests.conftest import ContainerFactory
from tests.flows.helpers import BROWSER, last_code, queued
from tests.flows.test_login_flow import make_account
from tests.flows.test_password_login import GOOD, set_password
from tests.flows.test_signup_flow import DETAILS
from tests.flows.test_two_factor import EMAIL, PHONE, enable_sms, mails, signed_in
from vitalkey.adapters.clock import FrozenClock
from vitalkey.container import Container
from vitalkey.domain.authenticators import FEDERATED, UPSTREAM_SECOND_FACTOR, StoredAuthenticator
from vitalkey.domain.errors import (
    AuthenticatorNotFound,
    IdentityLinkedElsewhere,
    RateLimited,
    ReauthenticationRequired,
    UnlinkRefused,
    WrongState,
)
from vitalkey.domain.federation import ADDRESS_UNCONFIRMED
from vitalkey.flows.authenticators import Authenticators
from vitalkey.flows.authenticators.base import Answer, Role
from vitalkey.flows.authenticators.federated import CLAIMS, FederatedKind, claims_context
from vitalkey.flows.federation import AddressNeeded, Federation, LinkRequired, SignedIn, SignupStarted
from vitalkey.flows.login import LoginFlow, SecondFactorNeeded
from vitalkey.flows.methods import SignInMethods
from vitalkey.flows.second_factor import require_fresh
from vitalkey.flows.sessions import Authenticated, Started, start
from vitalkey.ports import UpstreamClaims, UpstreamStart

GOOGLE_ISSUER = "https://accounts.google.com"
APPLE_ISSUER = "https://appleid.apple.com"
RELAY = "x7k2p9q4zz@privaterelay.appleid.com"


@dataclass
class FakeProvider:
    """An ``UpstreamProvider`` that hands back the claims a test gives it."""

    id: str
    display_name: str
    trusted_for_second_factor: bool = False
    answers: list[UpstreamClaims] = field(default_factory=list)

    async def start(self, redirect_uri: str, state: str | None = None) -> UpstreamStart:
        return UpstreamStart(f"https://idp.example/authorize?redirect_uri={redirect_uri}", state or "st", "no", "ve")

    async def finish(
        self, *, code: str, redirect_uri: str, expected: UpstreamStart, posted_user: str | None = None
    ) -> UpstreamClaims:
        return self.answers.pop(0)


GOOGLE = FakeProvider("google", "Google")
APPLE = FakeProvider("apple", "Apple")


def claims(
    provider: str = "google",
    subject: str = "g-1",
    email: str | None = "ann@gmail.com",
    verified: bool = True,
) -> UpstreamClaims:
    issuer = APPLE_ISSUER if provider == "apple" else GOOGLE_ISSUER
    return UpstreamClaims(provider, issuer, subject, email, verified, "Ann", "Lee")


@dataclass
class World:
    container: Container
    federation: Federation
    login: LoginFlow


def world(container: Container, *providers: FakeProvider) -> World:
    """The container's registry with a federated kind that knows ``providers``."""
    kind = FederatedKind(container.deps, {p.id: p for p in providers or (GOOGLE, APPLE)})
    kinds = [k for k in container.sign_in_methods.authenticators.kinds if k.kind != FEDERATED]
    registry = Authenticators([*kinds[:-1], kind, kinds[-1]])  # the recovery code stays last
    methods = SignInMethods(container.deps, registry)
    return World(
        container, Federation(container.deps, kind, container.signup, methods), LoginFlow(container.deps, registry)
    )


@pytest.fixture
def w(container: Container) -> World:
    return world(container)


def identities(container: Container, account_id: int) -> list[StoredAuthenticator]:
    with container.uow.read() as tx:
        return [row for row in tx.authenticators.for_account(account_id) if row.kind == FEDERATED]


def audit(container: Container, prefix: str) -> list[tuple[str, int | None, dict[str, Any]]]:
    with container.engine.connect() as conn:
        found = conn.execute(
            text("SELECT event, account_id, details FROM audit WHERE event LIKE :p ORDER BY id"), {"p": prefix + "%"}
        ).all()
    return [(r[0], r[1], json.loads(r[2]) if isinstance(r[2], str) else dict(r[2])) for r in found]


def changes(container: Container, email: str = EMAIL) -> list[dict[str, Any]]:
    return [dict(m["payload"]) for m in mails(container, "two_factor_changed", email)]  # type: ignore[call-overload]


def signins(provider: str) -> float:
    return REGISTRY.get_sample_value("vitalkey_federated_signins_total", {"provider": provider}) or 0.0


def sign_up_through(w: World, given: UpstreamClaims, code: bool) -> Started:
    """The sign-up that an upstream sign-in started, to its end (policy, details, no 2FA)."""
    started = w.federation.sign_in(given, BROWSER)
    assert isinstance(started, SignupStarted) and started.code_sent is code
    flow = started.view.flow
    if code:
        flow = w.container.signup.submit_code(flow.id, last_code(w.container, str(given.email)), BROWSER)
    flow = w.container.signup.accept_policy(flow.id, True, None, BROWSER)
    flow = w.container.signup.submit_details(flow.id, DETAILS, BROWSER)
    return w.container.signup.finish(flow.id, False, BROWSER)


def link_identity(w: World, account_id: int, given: UpstreamClaims) -> StoredAuthenticator:
    with w.container.uow.begin() as tx:
        account = tx.accounts.get(account_id)
        assert account is not None
        row = tx.authenticators.add(
            StoredAuthenticator(
                0, account_id, FEDERATED, w.container.clock.now(), name="Google",
                lookup=f"{given.issuer}#{given.subject}",
                data={"provider": given.provider, "issuer": given.issuer, "subject": given.subject,
                      "email": given.email, "email_verified": given.email_verified},
            )
        )  # fmt: skip
    assert row is not None
    return row


# Signing in ----------------------------------------------------------------------------
def test_a_linked_identity_signs_in_as_a_first_factor_and_is_counted_by_provider(w: World, clock: FrozenClock) -> None:
    account_id = make_account(w.container)
    row = link_identity(w, account_id, claims())
    before = signins("google")
    clock.advance(minutes=3)

    result = w.federation.sign_in(claims(email="someone-else@example.org"), BROWSER)  # the address plays no part

    assert isinstance(result, SignedIn) and result.provider == "google"
    assert (result.proof.account.id, result.proof.method, result.proof.authenticator_id) == (
        account_id, FEDERATED, row.id
    )  # fmt: skip
    assert result.proof.roles == Role.FIRST  # the second factor still applies
    assert identities(w.container, account_id)[0].last_used_at == clock.now()
    assert signins("google") == before + 1
    assert queued(w.container, EMAIL) == []


def test_a_provider_trusted_for_the_second_factor_proves_both(container: Container) -> None:
    trusted = world(container, replace(GOOGLE, trusted_for_second_factor=True))
    account_id = make_account(container)
    link_identity(trusted, account_id, claims())
    result = trusted.federation.sign_in(claims(), BROWSER)
    assert isinstance(result, SignedIn) and result.proof.roles == Role.FIRST | Role.SECOND


def test_a_provider_that_is_not_configured_proves_nothing(w: World) -> None:
    account_id = make_account(w.container)
    link_identity(w, account_id, claims())
    with pytest.raises(WrongState):
        w.federation.sign_in(replace(claims(), provider="acme"), BROWSER)
    only_apple = world(w.container, APPLE)
    with pytest.raises(WrongState):  # a stored identity of a provider no longer configured
        only_apple.federation.sign_in(replace(claims(), provider="apple"), BROWSER)


# Signing up ----------------------------------------------------------------------------
def test_a_new_identity_with_a_verified_free_address_signs_up_without_a_code(w: World) -> None:
    started = w.federation.sign_in(claims(provider="apple", subject="a-1", email=RELAY), BROWSER)
    assert isinstance(started, SignupStarted) and not started.code_sent
    flow = started.view.flow
    assert (flow.kind, flow.state, flow.email) == ("signup", "policy", RELAY)
    assert flow.context["federated"]["given_name"] == "Ann"  # for the details page to offer
    assert queued(w.container, RELAY) == []  # no code mailed
    with pytest.raises(WrongState):
        w.container.signup.submit_details(flow.id, DETAILS, BROWSER)  # the policy is still asked first
    w.container.signup.accept_policy(flow.id, True, None, BROWSER)
    flow = w.container.signup.submit_details(flow.id, DETAILS, BROWSER)
    done = w.container.signup.finish(flow.id, False, BROWSER)

    assert done.account.email == RELAY and done.account.policy_version is not None
    assert done.session.methods == (FEDERATED,)
    [row] = identities(w.container, done.account.id)
    assert (row.name, row.lookup) == ("Apple", f"{APPLE_ISSUER}#a-1")
    assert dict(row.data) == {
        "provider": "apple", "issuer": APPLE_ISSUER, "subject": "a-1", "email": RELAY, "email_verified": True,
        ADDRESS_UNCONFIRMED: True,
    }  # fmt: skip
    assert audit(w.container, "federation.") == [
        ("federation.linked", done.account.id, {"provider": "apple", "id": row.id, "via": "signup"})
    ]
    assert queued(w.container, RELAY) == []  # the sign-up itself is not mailed
    again = w.federation.sign_in(claims(provider="apple", subject="a-1", email=RELAY), BROWSER)
    assert isinstance(again, SignedIn) and again.proof.account.id == done.account.id


def test_an_unverified_address_is_confirmed_by_the_emailed_code(w: World) -> None:
    given = claims(email="bo@example.org", verified=False)
    done = sign_up_through(w, given, code=True)
    assert [m["template"] for m in queued(w.container, "bo@example.org")] == ["signup_code"]
    assert done.session.methods == ("email_code", FEDERATED)
    [row] = identities(w.container, done.account.id)
    assert ADDRESS_UNCONFIRMED not in row.data and row.data["email_verified"] is False


def test_an_unverified_address_of_an_account_is_told_to_its_owner_only(w: World) -> None:
    make_account(w.container)
    started = w.federation.sign_in(claims(email=EMAIL, verified=False), BROWSER)
    assert isinstance(started, SignupStarted) and started.view.flow.state == "code_sent"  # as for any address
    [mail] = queued(w.container, EMAIL)
    assert mail["template"] == "signup_exists" and "code" not in mail["payload"]


def test_no_address_from_the_provider_asks_for_one_and_confirms_it_by_code(w: World) -> None:
    given = claims(provider="apple", subject="a-2", email=None, verified=False)
    asked = w.federation.sign_in(given, BROWSER)
    assert asked == AddressNeeded("apple")
    started = w.federation.start_signup(given, "cy@example.org", BROWSER)
    assert started.code_sent and started.view.flow.state == "code_sent"
    flow = w.container.signup.submit_code(started.view.flow.id, last_code(w.container, "cy@example.org"), BROWSER)
    w.container.signup.accept_policy(flow.id, True, None, BROWSER)
    flow = w.container.signup.submit_details(flow.id, DETAILS, BROWSER)
    done = w.container.signup.finish(flow.id, False, BROWSER)
    [row] = identities(w.container, done.account.id)
    assert row.data["email"] is None and row.lookup == f"{APPLE_ISSUER}#a-2"


def test_an_identity_linked_during_the_sign_up_refuses_it(w: World) -> None:
    started = w.federation.sign_in(claims(), BROWSER)
    assert isinstance(started, SignupStarted)
    other = make_account(w.container, "bob@example.org")
    link_identity(w, other, claims())  # meanwhile, elsewhere
    w.container.signup.accept_policy(started.view.flow.id, True, None, BROWSER)
    with pytest.raises(IdentityLinkedElsewhere):
        w.container.signup.submit_details(started.view.flow.id, DETAILS, BROWSER)
    with w.container.uow.read() as tx:
        assert tx.accounts.by_email("ann@gmail.com") is None  # nothing was created


# Linking -------------------------------------------------------------------------------
def test_an_account_s_address_is_never_linked_without_proof_then_is_after_it(w: World) -> None:
    account_id = make_account(w.container)
    given = claims(email=EMAIL)

    told = w.federation.sign_in(given, BROWSER)
    assert told == LinkRequired(EMAIL, "google")
    assert identities(w.container, account_id) == [] and queued(w.container, EMAIL) == []

    auth = signed_in(w.container)  # the account's own sign-in (its emailed code)
    row = w.federation.link(auth, given, BROWSER)

    assert (row.account_id, row.kind, row.name, row.lookup) == (account_id, FEDERATED, "Google", f"{GOOGLE_ISSUER}#g-1")
    assert ADDRESS_UNCONFIRMED not in row.data
    [mail] = changes(w.container)
    assert (mail["event"], mail["method"], mail["method_label"], mail["name"]) == (
        "method_added", FEDERATED, "Linked account", f"Google · {EMAIL}"
    )  # fmt: skip
    assert audit(w.container, "federation.") == [
        ("federation.linked", account_id, {"provider": "google", "id": row.id})
    ]
    assert "g-1" not in json.dumps(audit(w.container, ""))  # no subject, no token in the audit
    assert w.federation.link(auth, given, BROWSER) == row  # again: nothing changes, nothing is mailed
    assert len(changes(w.container)) == 1

    again = w.federation.sign_in(given, BROWSER)
    assert isinstance(again, SignedIn) and again.proof.account.id == account_id


def test_linking_needs_a_fresh_sign_in_with_the_second_factor(w: World, clock: FrozenClock) -> None:
    account_id = make_account(w.container)
    enable_sms(w.container)
    given = claims(email=EMAIL)
    with w.container.uow.begin() as tx:  # signed in with the emailed code only: not enough with 2FA on
        account = tx.accounts.get(account_id)
        assert account is not None
        code_only = start(w.container.deps, tx, account, BROWSER, ("email_code",))
    with pytest.raises(ReauthenticationRequired):
        w.federation.link(Authenticated(code_only.session, code_only.account), given, BROWSER)
    auth = signed_in(w.container)  # the code, then the texted code
    clock.advance(minutes=5, seconds=1)
    with pytest.raises(ReauthenticationRequired):
        w.federation.link(auth, given, BROWSER)
    assert identities(w.container, account_id) == []

    row = w.federation.link(signed_in(w.container), given, BROWSER)
    assert identities(w.container, account_id) == [row]


def test_the_provider_s_answer_is_taken_once_even_by_racing_callbacks(
    w: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = {"provider": "google", "state": "st", "nonce": "no", "verifier": "ve"}
    view = w.login.start_upstream(kept, BROWSER)
    assert view.flow.context["upstream"] == kept
    # Both callbacks have read the flow before either writes it: saving alone (its state is
    # unchanged) would let both through; the kept state, used up as a one-time code, lets one.
    both_read = threading.Barrier(2)
    save = w.login._save

    def save_when_both_read(*args: Any) -> None:
        with suppress(threading.BrokenBarrierError):
            both_read.wait(timeout=1)  # the loser waits on the winner's lock: it never comes
        save(*args)

    monkeypatch.setattr(w.login, "_save", save_when_both_read)

    def take() -> bool:
        try:
            return w.login.take_upstream(view.flow.id, BROWSER) == kept
        except WrongState:
            return False

    with ThreadPoolExecutor(max_workers=2) as pool:
        taken = list(pool.map(lambda _: take(), range(2)))
    assert taken.count(True) == 1
    with pytest.raises(WrongState):
        w.login.take_upstream(view.flow.id, BROWSER)


def test_sign_ins_with_a_provider_are_counted_per_network_before_a_flow_is_stored(w: World) -> None:
    w.login.deps = replace(w.container.deps, upstream_limit_per_ip=(2, 600))
    kept = {"provider": "google", "state": "st", "nonce": "no", "verifier": "ve"}
    for _ in range(2):
        w.login.start_upstream(kept, BROWSER)
    with w.container.engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM flows")).scalar_one()
    with pytest.raises(RateLimited) as refused:
        w.login.start_upstream(kept, BROWSER)
    assert refused.value.params["seconds"] > 0  # the wait, for Retry-After
    with w.container.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM flows")).scalar_one() == stored
    other_network = replace(BROWSER, ip="198.51.100.7")
    assert w.login.start_upstream(kept, other_network).flow.context["upstream"] == kept


def test_the_provider_s_answer_must_come_back_within_ten_minutes(w: World, clock: FrozenClock) -> None:
    view = w.login.start_upstream({"provider": "google", "state": "st", "nonce": "no", "verifier": "ve"}, BROWSER)
    clock.advance(minutes=10, seconds=1)
    with pytest.raises(WrongState):
        w.login.take_upstream(view.flow.id, BROWSER)


def test_sign_in_to_link_links_once_the_sign_in_completes_with_its_second_factor(w: World) -> None:
    account_id = make_account(w.container)
    enable_sms(w.container)
    waiting = w.login.start_with(FEDERATED, "", BROWSER)  # the upstream sign-in that found the account
    w.login.keep_for_link(waiting.flow.id, claims(email=EMAIL), EMAIL, BROWSER)
    assert w.login.waiting_link(waiting.flow.id, BROWSER).email == EMAIL
    started = w.login.start_to_link(waiting.flow.id, BROWSER, "/account/two-factor?notice=linked")
    with pytest.raises(WrongState):  # taken: linked by one sign-in at most
        w.login.waiting_link(waiting.flow.id, BROWSER)
    result = w.login.submit_code(started.flow.id, last_code(w.container, EMAIL), BROWSER)
    assert isinstance(result, SecondFactorNeeded)
    assert identities(w.container, account_id) == []  # not before the second factor
    done = w.login.submit_sms(result.flow.id, last_code(w.container, PHONE), BROWSER)
    assert done.return_to == "/account/two-factor?notice=linked"
    assert [row.data["subject"] for row in identities(w.container, account_id)] == ["g-1"]
    assert [e for e, _, _ in audit(w.container, "federation.")] == ["federation.linked"]


def test_sign_in_to_link_never_links_to_another_account_than_the_kept_address(w: World) -> None:
    make_account(w.container)
    other_id = make_account(w.container, "zed@example.org")
    waiting = w.login.start_with(FEDERATED, "", BROWSER)
    w.login.keep_for_link(waiting.flow.id, claims(email=EMAIL), EMAIL, BROWSER)
    started = w.login.start_to_link(waiting.flow.id, BROWSER, "/account/two-factor?notice=linked")
    with w.container.uow.begin() as tx:  # the sign-in's address changed under it (it cannot, through the pages)
        assert tx.flows.save(replace(started.flow, email="zed@example.org"), started.flow.state)
    done = w.login.submit_code(started.flow.id, last_code(w.container, EMAIL), BROWSER)
    assert isinstance(done, Started) and done.account.id == other_id
    assert identities(w.container, other_id) == []


def test_an_identity_linked_to_another_account_is_refused_and_audited(w: World) -> None:
    bob = make_account(w.container, "bob@example.org")
    link_identity(w, bob, claims())
    ann = make_account(w.container)
    auth = signed_in(w.container)
    with pytest.raises(IdentityLinkedElsewhere):
        w.federation.link(auth, claims(), BROWSER)
    assert identities(w.container, ann) == [] and [r.account_id for r in identities(w.container, bob)] == [bob]
    assert audit(w.container, "federation.") == [("federation.link_refused", ann, {"provider": "google"})]
    assert changes(w.container) == []


# Signing in by federation, in the login flow ---------------------------------------------
def test_the_login_flow_takes_the_identity_as_a_first_factor_then_asks_the_second(w: World) -> None:
    account_id = make_account(w.container)
    enable_sms(w.container)
    link_identity(w, account_id, claims())
    view = w.login.start_with(FEDERATED, "", BROWSER)
    with w.container.uow.begin() as tx:  # what the upstream callback will do: the checked claims, server-side
        assert tx.flows.save(view.flow.moved(view.flow.state, **{CLAIMS: claims_context(claims())}), view.flow.state)
    proof, result = w.login.submit(view.flow.id, FEDERATED, Answer(), BROWSER)
    assert proof.roles == Role.FIRST and isinstance(result, SecondFactorNeeded)
    assert result.challenge.method == "sms"
    done = w.login.submit_sms(result.flow.id, last_code(w.container, PHONE), BROWSER)
    assert done.session.methods == (FEDERATED, "sms")


def test_the_login_flow_signs_in_at_once_with_a_provider_trusted_for_the_second_factor(container: Container) -> None:
    trusted = world(container, replace(GOOGLE, trusted_for_second_factor=True))
    account_id = make_account(container)
    enable_sms(container)
    link_identity(trusted, account_id, claims())
    view = trusted.login.start_with(FEDERATED, "", BROWSER)
    with container.uow.begin() as tx:
        tx.flows.save(view.flow.moved(view.flow.state, **{CLAIMS: claims_context(claims())}), view.flow.state)
    _, result = trusted.login.submit(view.flow.id, FEDERATED, Answer(), BROWSER)
    assert isinstance(result, Started) and result.session.methods == (FEDERATED, UPSTREAM_SECOND_FACTOR)
    with container.uow.read() as tx:  # a session "with 2FA": the account's methods may be changed at once
        assert require_fresh(container.deps, tx, Authenticated(result.session, result.account)) is not None


def test_the_login_flow_refuses_an_identity_that_is_not_linked(w: World) -> None:
    make_account(w.container)
    view = w.login.start_with(FEDERATED, "", BROWSER)
    with w.container.uow.begin() as tx:
        tx.flows.save(view.flow.moved(view.flow.state, **{CLAIMS: claims_context(claims())}), view.flow.state)
    with pytest.raises(WrongState):
        w.login.submit(view.flow.id, FEDERATED, Answer(), BROWSER)


# Unlinking -----------------------------------------------------------------------------
def test_unlinking_the_last_identity_of_an_account_never_confirmed_by_code_is_refused(w: World) -> None:
    done = sign_up_through(w, claims(provider="apple", subject="a-1", email=RELAY), code=False)
    auth = w.container.sessions.authenticate(done.token)
    [apple] = identities(w.container, done.account.id)
    with pytest.raises(UnlinkRefused):
        w.federation.unlink(auth, apple.id, BROWSER)
    assert identities(w.container, done.account.id) == [apple]
    assert changes(w.container, RELAY) == []

    # A second identity, linked from the federated session: it carries the mark; the first may go.
    google = w.federation.link(auth, claims(email="ann@gmail.com"), BROWSER)
    assert google.data[ADDRESS_UNCONFIRMED] is True
    removed = w.federation.unlink(auth, apple.id, BROWSER)
    assert removed.method.row.id == apple.id and not removed.two_factor_off
    with pytest.raises(UnlinkRefused):
        w.federation.unlink(auth, google.id, BROWSER)
    sent = [(m["event"], m["method"], m["name"]) for m in changes(w.container, RELAY)]
    assert sent == [
        ("method_added", FEDERATED, "Google · ann@gmail.com"),
        ("method_removed", FEDERATED, f"Apple · {RELAY}"),
    ]
    assert [(e, d.get("provider")) for e, _, d in audit(w.container, "federation.")] == [
        ("federation.linked", "apple"),
        ("federation.linked", "google"),
        ("federation.unlinked", "apple"),
    ]


def test_a_password_lets_the_last_identity_go(w: World) -> None:
    done = sign_up_through(w, claims(), code=False)
    set_password(w.container, done.account.id, GOOD)
    [google] = identities(w.container, done.account.id)
    w.federation.unlink(w.container.sessions.authenticate(done.token), google.id, BROWSER)
    assert identities(w.container, done.account.id) == []


def test_an_address_confirmed_by_code_lets_the_last_identity_go_and_clears_the_mark(w: World) -> None:
    done = sign_up_through(w, claims(), code=False)
    [google] = identities(w.container, done.account.id)
    # Signed in with a code mailed to the address: linking from that session clears the mark.
    auth = signed_in(w.container, "ann@gmail.com")
    apple = w.federation.link(auth, claims(provider="apple", subject="a-9", email=RELAY), BROWSER)
    assert ADDRESS_UNCONFIRMED not in apple.data
    assert all(ADDRESS_UNCONFIRMED not in row.data for row in identities(w.container, done.account.id))
    w.federation.unlink(auth, google.id, BROWSER)
    w.federation.unlink(auth, apple.id, BROWSER)  # the emailed code is a way in: the last may go
    assert identities(w.container, done.account.id) == []


def test_unlinking_goes_through_the_method_list_rules(w: World, clock: FrozenClock) -> None:
    account_id = make_account(w.container)
    auth = signed_in(w.container)
    row = w.federation.link(auth, claims(email=EMAIL), BROWSER)
    listed = w.federation.methods.for_account(auth.account).methods
    [method] = [m for m in listed if m.row.kind == FEDERATED]
    assert (method.label, method.hint, method.can_rename, method.can_be_default) == (
        "Linked account", f"Google · {EMAIL}", False, False
    )  # fmt: skip
    with pytest.raises(AuthenticatorNotFound):  # another method's id is not an identity
        w.federation.unlink(auth, 10_000, BROWSER)
    clock.advance(minutes=5, seconds=1)
    with pytest.raises(ReauthenticationRequired):
        w.federation.unlink(auth, row.id, BROWSER)
    w.federation.unlink(signed_in(w.container), row.id, BROWSER)
    assert identities(w.container, account_id) == []
    assert [m["event"] for m in changes(w.container)] == ["method_added", "method_removed"]


def test_the_generic_method_list_keeps_the_unlink_rule(w: World) -> None:
    """Removing from the method list (not through ``Federation``) asks the kind too."""
    done = sign_up_through(w, claims(), code=False)
    [google] = identities(w.container, done.account.id)
    with pytest.raises(UnlinkRefused):
        w.federation.methods.remove(w.container.sessions.authenticate(done.token), google.id, BROWSER)


def test_the_container_registers_the_kind_without_providers(make_container: ContainerFactory) -> None:
    container = make_container()
    assert FEDERATED in container.sign_in_methods.authenticators
    assert container.federation.kind.applies(None, [], Role.FIRST) is False  # nothing offered yet
    assert FEDERATED not in container.sign_in_methods.addable()
