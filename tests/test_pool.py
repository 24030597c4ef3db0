"""The pool (碳普惠池): residents donate, anyone can see it (MARKET.md)."""
from tests.coupons_support import METRO_10_KM_G, residents_with_credits


def test_a_resident_donates_to_the_pool_and_anyone_sees_it(app, api):
    [resident] = residents_with_credits(app, api, 1)
    before = api.http.get("/api/v1/market/pool").get_json()
    assert before == {"account_number": "SYSPOOL", "credits_g": 0, "money_fen": 0, "donated_total_g": 0,
                      "sold_total_g": 0}
    gift = api.http.post("/api/v1/me/pool-donations", json={"amount_g": 100},
                         headers=resident.auth(**{"Idempotency-Key": "gift-1"}))
    assert gift.status_code == 201, gift.get_json()
    body = gift.get_json()
    assert body["amount_g"] == 100 and body["pool_account_number"] == "SYSPOOL" and len(body["serials"]) == 1
    again = api.http.post("/api/v1/me/pool-donations", json={"amount_g": 100},
                          headers=resident.auth(**{"Idempotency-Key": "gift-1"}))
    assert again.get_json() == body  # one donation, however often the app retries
    assert api.http.get("/api/v1/market/pool").get_json() == {
        "account_number": "SYSPOOL", "credits_g": 100, "money_fen": 0, "donated_total_g": 100, "sold_total_g": 0}
    me = api.http.get("/api/v1/me", headers=resident.auth()).get_json()["account"]
    assert (me["balance_g"], me["donated_g"]) == (METRO_10_KM_G - 100, 100)
    [line] = [item for item in api.http.get("/api/v1/me/ledger", headers=resident.auth()).get_json()["items"]
              if item["type"] == "donate"]
    assert line["amount_g"] == -100 and line["serials"] == body["serials"]


def test_a_donation_beyond_the_balance_or_by_staff_is_refused(app, api):
    [resident] = residents_with_credits(app, api, 1)
    short = api.http.post("/api/v1/me/pool-donations", json={"amount_g": METRO_10_KM_G + 1}, headers=resident.auth())
    assert short.status_code == 422 and short.get_json()["code"] == "insufficient_balance"
    assert api.http.post("/api/v1/me/pool-donations", json={"amount_g": 0}, headers=resident.auth()).status_code == 422
    assert api.http.get("/api/v1/market/pool").get_json()["credits_g"] == 0
