"""Recovery codes are sealed with a rotatable key: a new key in front, `vitalkey keys reseal`,
then the old key can go."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from tests.conftest import ContainerFactory
from tests.flows.test_login_flow import make_account
from tests.flows.test_two_factor import enable_sms, signed_in
from vitalkey.adapters.reseal import reseal_recovery_codes
from vitalkey.adapters.sealing import FernetSealer, SealingError, new_key


def test_sealed_values_open_with_any_listed_key_and_reseal_to_the_newest() -> None:
    old, new = new_key(), new_key()
    sealed = FernetSealer([old.encode()]).seal("ABCDEFGHJKMNPQRS")
    assert "ABCDEFGHJKMNPQRS" not in sealed
    both = FernetSealer([new.encode(), old.encode()])
    assert both.open(sealed) == "ABCDEFGHJKMNPQRS"
    resealed = both.reseal(sealed)
    assert FernetSealer([new.encode()]).open(resealed) == "ABCDEFGHJKMNPQRS"
    with pytest.raises(SealingError):
        FernetSealer([new.encode()]).open(sealed)
    with pytest.raises(SealingError):
        FernetSealer([b"not a key"])


def test_rotating_the_key_keeps_every_recovery_code(make_container: ContainerFactory) -> None:
    old, new = new_key(), new_key()
    container = make_container(encryption_keys=(old,))
    make_account(container)
    code = enable_sms(container)
    rotated = make_container(encryption_keys=(new, old))
    assert reseal_recovery_codes(rotated.engine, rotated.sealer) == 1
    only_new = make_container(encryption_keys=(new,))
    assert only_new.two_factor.recovery_code(signed_in(only_new))[0] == code


def test_the_cli_prints_new_keys() -> None:
    from vitalkey.cli import main

    result = CliRunner().invoke(main, ["keys", "new"])
    assert result.exit_code == 0
    FernetSealer([result.output.strip().encode()])  # a usable key
