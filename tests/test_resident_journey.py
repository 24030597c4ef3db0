"""A resident's first day, end to end through HTTP."""


def test_register_login_refresh_authorize_post_trip_and_see_it(api, file_source):
    file_source("BZBUS", "transit", name="滨州公交")
    resident = api.register(display_name="王小绿")

    login = api.http.post("/api/v1/auth/login", json={"phone": resident.phone, "password": "correct horse battery"})
    assert login.status_code == 200
    assert login.get_json()["user"]["phone_masked"] == resident.phone[:3] + "****" + resident.phone[-4:]
    refreshed = api.http.post("/api/v1/auth/refresh",
                              headers={"Authorization": f"Bearer {login.get_json()['refresh_token']}"})
    assert refreshed.status_code == 200
    resident.access_token = refreshed.get_json()["access_token"]

    grant = api.http.put("/api/v1/me/sources/BZBUS", headers=resident.auth())
    assert grant.status_code == 200 and grant.get_json()["code"] == "BZBUS"
    assert [s["code"] for s in api.http.get("/api/v1/me/sources", headers=resident.auth()).get_json()["items"]] == ["BZBUS"]

    posted = api.trip(resident, mode="metro", distance_m=10_000)
    assert posted.status_code == 202

    events = api.http.get("/api/v1/me/events", headers=resident.auth()).get_json()
    # Quantified as soon as it was recorded (in-process here; by the worker in production).
    assert [(e["id"], e["mode"], e["distance_m"], e["status"], e["reduction_g"]) for e in events["items"]] == [
        (posted.get_json()["id"], "metro", 10_000, "quantified", 468)
    ]
    assert events["next_cursor"] is None

    me = api.http.get("/api/v1/me", headers=resident.auth()).get_json()
    assert me["account"]["number"] == resident.account_number
    assert me["account"]["balance_g"] == 0
    assert me["account"]["pending_g"] == 468  # quantified, waiting for issuance

    assert api.http.post("/api/v1/auth/logout", headers=resident.auth()).status_code == 204
    after = api.http.get("/api/v1/me", headers=resident.auth())
    assert after.status_code == 401
    assert after.get_json()["code"] == "token_revoked"
    # The whole session is gone: its refresh token no longer mints access tokens...
    again = api.http.post("/api/v1/auth/refresh",
                          headers={"Authorization": f"Bearer {login.get_json()['refresh_token']}"})
    assert again.status_code == 401
    # ...while the session opened at registration, on another device, lives on.
    other = api.http.post("/api/v1/auth/refresh", headers={"Authorization": f"Bearer {resident.refresh_token}"})
    assert other.status_code == 200
