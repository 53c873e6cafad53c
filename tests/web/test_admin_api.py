"""The admin API for OAuth clients: off without an admin token, 401 with a wrong one, and the
client's secret in the creation answer only."""

from __future__ import annotations

from tests.web.conftest import ClientFactory

ADMIN = "admin-token-0123456789abcdef-0123456789"
PORTAL = {
    "name": "Acme Wellness Portal",
    "redirect_uris": ["https://portal.example.com/callback"],
    "scopes": ["user.info", "user.metrics"],
    "policy_url": "https://portal.example.com/privacy",
}


def test_the_admin_api_is_off_without_a_token(make_client: ClientFactory) -> None:
    client = make_client()
    answer = client.get("/api/v1/admin/clients", headers={"authorization": "Bearer anything"})
    assert answer.status_code == 404 and answer.json()["error"] == "not_found"


def test_clients_through_the_admin_api(make_client: ClientFactory) -> None:
    client = make_client(admin_token=ADMIN)
    admin = {"authorization": f"Bearer {ADMIN}"}
    assert client.get("/api/v1/admin/clients").status_code == 401
    assert client.get("/api/v1/admin/clients", headers={"authorization": "Bearer " + ADMIN[:-1]}).status_code == 401
    created = client.post("/api/v1/admin/clients", json=PORTAL, headers=admin)
    assert created.status_code == 201, created.text
    body = created.json()
    client_id, secret = body["client_id"], body["client_secret"]
    assert secret and body["has_secret"] is True and body["scopes"] == ["user.info", "user.metrics"]
    shown = client.get(f"/api/v1/admin/clients/{client_id}", headers=admin).json()
    assert "client_secret" not in shown and shown["policy_url"] == PORTAL["policy_url"]
    assert client_id in [c["client_id"] for c in client.get("/api/v1/admin/clients", headers=admin).json()["clients"]]
    rotated = client.post(f"/api/v1/admin/clients/{client_id}/secret", headers=admin).json()
    assert rotated["client_secret"] != secret
    bad = client.post("/api/v1/admin/clients", json={**PORTAL, "redirect_uris": ["http://x.example/cb"]}, headers=admin)
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_client_metadata"
    for hostile in (
        "https://evil.example@portal.example.com/cb",
        "https://portal.example.com/cb#",
        "http://u@127.0.0.1/",
    ):
        refused = client.post("/api/v1/admin/clients", json={**PORTAL, "redirect_uris": [hostile]}, headers=admin)
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_client_metadata", hostile
    public = client.post(
        "/api/v1/admin/clients", json={**PORTAL, "client_type": "public", "client_id": "coach"}, headers=admin
    )
    assert public.status_code == 201 and public.json()["client_secret"] is None
    again = client.post("/api/v1/admin/clients", json={**PORTAL, "client_id": "coach"}, headers=admin)
    assert again.status_code == 409 and again.json()["error"] == "app_exists"
    no_secret = client.post("/api/v1/admin/clients/coach/secret", headers=admin)
    assert no_secret.status_code == 400 and no_secret.json()["error"] == "invalid_client_metadata"
    assert client.delete(f"/api/v1/admin/clients/{client_id}", headers=admin).json() == {"ended": 1}
    gone = client.get(f"/api/v1/admin/clients/{client_id}", headers=admin)
    assert gone.status_code == 404 and gone.json()["error"] == "client_not_found"
