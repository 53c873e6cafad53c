"""The portal's settings the demo writes are read by the portal as the demo means them: itself on
localhost, VitalKey as a Withings-compatible provider that signs its notifications, in any folder
name."""

from __future__ import annotations

from pathlib import Path

from vitalkey.demo.setup import DemoOptions, DemoState, Layout, portal_toml
from vitalkey_portal.providers import ProviderKind, Revocation
from vitalkey_portal.settings import load_settings

STATE = DemoState(
    account_id=1,
    client_id="0123456789abcdef0123456789abcdef",
    client_secret='a "secret" with \\ and é',
    first_day="2026-09-03",
    history_until="2026-12-01T10:00:00+00:00",
    portal_password="0a1b2c3d4e5f",
)


def test_the_portal_reads_the_demo_settings(tmp_path: Path) -> None:
    layout = Layout(tmp_path / 'démo "data" \\ folder')
    layout.root.mkdir()
    layout.portal_config.write_text(portal_toml(DemoOptions(port=8001, portal_port=8101), layout, STATE))
    settings = load_settings(str(layout.portal_config), environ={})
    assert (settings.public_url, settings.host, settings.port) == ("http://localhost:8101", "127.0.0.1", 8101)
    assert settings.data_dir == str(layout.portal) and settings.timezone == "Europe/Paris"
    (vitalkey,) = settings.providers
    assert (vitalkey.slug, vitalkey.name, vitalkey.kind) == ("vitalkey", "VitalKey", ProviderKind.WITHINGS)
    assert vitalkey.authorize_url == "http://127.0.0.1:8001/oauth2_user/authorize2"
    assert vitalkey.api_url == "http://127.0.0.1:8001"
    assert (vitalkey.client_id, vitalkey.client_secret) == (STATE.client_id, STATE.client_secret)
    assert vitalkey.scopes == ("user.info", "user.metrics", "user.activity")
    assert vitalkey.signs_notifications is True and vitalkey.revocation is Revocation.WITHINGS
    assert (Path(__file__).parents[2] / "src/vitalkey_portal/web/static" / vitalkey.logo).is_file()
