"""Time zone names as the companion app and the imports send them."""

import pytest

from vitalkey.domain.health import known_timezone


@pytest.mark.parametrize("name", ["Europe/Paris", "Asia/Tokyo", "UTC", "America/Argentina/Buenos_Aires"])
def test_iana_names_are_known(name: str) -> None:
    assert known_timezone(name)


@pytest.mark.parametrize("name", ["America", "Europe", "", "Mars/Olympus", "../etc/passwd", "/etc/localtime", "a" * 65])
def test_folders_paths_and_inventions_are_not_zones(name: str) -> None:
    assert not known_timezone(name)  # "America" is a folder of zones: it raised IsADirectoryError (a 500)
