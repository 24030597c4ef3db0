"""`flask demo seed`: what the README's first command shows a newcomer is whole and consistent."""
from tests.market_support import wallet


def test_the_demo_seeds_every_side_and_every_invariant_holds(app, api):
    runner = app.test_cli_runner()
    seeded = runner.invoke(args=["demo", "seed"])
    assert seeded.exit_code == 0, seeded.output
    assert "13600000001" in seeded.output  # the enterprise's staff can sign in
    again = runner.invoke(args=["demo", "seed"])
    assert again.exit_code == 0  # once only: a second run changes nothing
    login = api.http.post("/api/v1/auth/login", json={"phone": "13600000001", "password": "demo-password-2026"})
    firm = {"Authorization": f"Bearer {login.get_json()['access_token']}"}
    assert wallet(api, firm)["money_fen"] == 1_000_000
    pool = api.http.get("/api/v1/market/pool").get_json()
    assert pool["donated_total_g"] > 0
    [listing] = api.http.get("/api/v1/market/listings").get_json()["items"]
    assert listing["price_fen_per_t"] == 4_350 and listing["seller_name"].startswith("碳普惠池")
    [auction] = api.http.get("/api/v1/market/auctions").get_json()["items"]
    assert auction["status"] == "open" and auction["quantity_g"] + listing["remaining_g"] == pool["donated_total_g"]
    bought = api.http.post("/api/v1/market/orders", headers=firm,
                           json={"quantity_g": listing["remaining_g"], "max_price_fen_per_t": 5_000})
    assert bought.status_code == 201, bought.get_json()
    verified = runner.invoke(args=["registry", "verify"])
    assert verified.exit_code == 0, verified.output
