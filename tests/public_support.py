"""A registry with something of everything the public page shows, built the platform's way: credits
issued in two months under both methodologies to residents of two districts, retirements (one by a
resident, one bought on the market and retired at once), donations to the pool, the pool's listing
sold to an enterprise, coupons claimed and redeemed at a shop in a third district, a verification run.

The residents sign up with names and phones the tests then look for (they must appear nowhere)."""
from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa
from sqlalchemy import select

from accounting.ledger.donations import donate
from accounting.ledger.idempotency import internal
from accounting.ledger.models import Account
from accounting.ledger.retirements import retire
from accounting.market.orders import Retire, place
from config.extensions import db
from tests.coupons_support import claim, create_campaign, open_shop, qr_token, staff
from tests.market_support import approved_enterprises, deposit_to, list_from, pool_id
from tests.registry_support import issue

NAMES = ("欧阳明远", "司马静怡")
MARCH, APRIL = date(2026, 3, 10), date(2026, 4, 12)


@dataclass
class Scenario:
    phones: list[str] = field(default_factory=list)
    names: tuple = NAMES
    account_numbers: list[str] = field(default_factory=list)
    auditor: dict | None = None


def account_id_of(number: str) -> int:
    return db.session.scalar(select(Account.id).where(Account.number == number))


def busy_public_registry(app, api) -> Scenario:
    from tests.conftest import as_owner

    scenario = Scenario()
    residents = [api.register(display_name=NAMES[0], district="滨城区"),
                 api.register(display_name=NAMES[1], district="邹平市")]
    scenario.phones = [r.phone for r in residents]
    scenario.account_numbers = [r.account_number for r in residents]
    with app.app_context():
        first, second = (account_id_of(r.account_number) for r in residents)
        issue(MARCH, {first: 120_000, second: 80_000}, code="TRIP")
        limit, app.config["ISSUANCE_AUTO_APPROVE_MAX_G"] = app.config["ISSUANCE_AUTO_APPROVE_MAX_G"], 10**7
        try:
            issue(APRIL, {first: 2_500_000}, code="RECYCLE")  # over a tonne: shown in t
        finally:
            app.config["ISSUANCE_AUTO_APPROVE_MAX_G"] = limit
        issue(APRIL, {second: 40_000}, code="TRIP")
        retire(first, 30_000, "滨州市第一中学", "校园碳中和", internal("public-retire", "1"), actor_id=None)
        retire(second, 5_000, "黄河马拉松组委会", "赛事碳中和", internal("public-retire", "2"), actor_id=None)
        donate(first, 1_200_000, internal("public-donate", "1"), actor_id=None)  # TRIP units first, then RECYCLE
        donate(second, 7_000, internal("public-donate", "2"), actor_id=None)
        db.session.commit()
    # The pool lists 1,000,000 g at 43.50 yuan/t; an enterprise buys 600,000 g and retires it at once.
    listing = list_from(app, pool_id(app), 1_000_000, 4_350)
    [buyer] = approved_enterprises(app, 1)
    deposit_to(app, buyer, 10_000_00)
    with app.app_context():
        place(buyer, 600_000, 4_350, internal("public-order", "1"), listing_id=listing,
              retire=Retire("滨州绿色化工有限公司", "年度碳中和"), actor_id=None)
        db.session.commit()
    # Coupons: a shop in a third district; two residents claim, one redeems.
    shop = open_shop(app, api, district="惠民县")
    scenario.auditor = shop.auditor
    campaign = create_campaign(api, shop, price_g=1_000, stock=5)
    coupons = [claim(api.http, resident, campaign["id"]) for resident in residents]
    assert all(answer.status_code == 201 for answer in coupons), [c.get_json() for c in coupons]
    token = qr_token(api, residents[1], coupons[1].get_json()["id"])
    redeemed = api.http.post("/api/v1/redemptions", json={"token": token}, headers=shop.cashier)
    assert redeemed.status_code == 200, redeemed.get_json()
    # One retirement and the first coupon's claim placed in an earlier month (the test positions its data;
    # the registry's own tables keep their times, which the owner may not rewrite either).
    with as_owner(app) as connection:
        connection.execute(sa.text("UPDATE retirements SET created_at = created_at - interval '62 days' "
                                   "WHERE beneficiary = '滨州市第一中学'"))
        connection.execute(sa.text("UPDATE coupons SET claimed_at = claimed_at - interval '40 days' "
                                   "WHERE id = :id"), {"id": coupons[0].get_json()["id"]})
    assert app.test_cli_runner().invoke(args=["registry", "verify"]).exit_code == 0
    return scenario


__all__ = ["busy_public_registry", "staff"]
