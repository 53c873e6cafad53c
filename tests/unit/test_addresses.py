from vitalkey.domain.addresses import network_of


def test_ipv6_clients_are_counted_per_64() -> None:
    assert network_of("2001:db8:1:2:aaaa::1") == network_of("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert network_of("2001:db8:1:3::1") != network_of("2001:db8:1:2::1")


def test_ipv4_and_unknown_stay_as_they_are() -> None:
    assert network_of("203.0.113.7") == "203.0.113.7"
    assert network_of("unknown") == "unknown"
