"""Coupons under contention, on real PostgreSQL: threads, each with its own test client
(its own app context, session and connection), released together by a barrier.

The stock never oversells, a key claims once, the per-resident limit holds, a coupon is
redeemed once, and two expiry sweeps return each price exactly once.
"""
import pytest
from sqlalchemy import func, select, update

from accounting.ledger.models import JournalTransaction
from merchants.models import Campaign, Coupon
from merchants.tasks import expire_coupons
from tests.coupons_support import (
    METRO_10_KM_G,
    account_balance,
    balance,
    claim,
    count_rows,
    create_campaign,
    escrow_balance,
    open_shop,
    qr_token,
    registry_ok,
    residents_with_credits,
    run_together,
    staff,
)
from tests.support import ago


@pytest.fixture
def shop(app, api):
    return open_shop(app, api)


def _claimed_count(app, campaign_id: int) -> int:
    from config.extensions import db

    with app.app_context():
        return db.session.scalar(select(Campaign.claimed_count).where(Campaign.id == campaign_id))


def test_forty_residents_racing_for_twenty_five_coupons_never_oversell(app, api, shop):
    residents = residents_with_credits(app, api, 40)
    offer = create_campaign(api, shop, stock=25, price_g=100)
    clients = [app.test_client() for _ in residents]
    answers = run_together([lambda c=c, r=r: claim(c, r, offer["id"]) for c, r in zip(clients, residents)])

    won = [r for r, a in zip(residents, answers) if a.status_code == 201]
    lost = [a for a in answers if a.status_code != 201]
    assert len(won) == 25
    assert [(a.status_code, a.get_json()["code"]) for a in lost] == [(409, "sold_out")] * 15
    assert len({a.get_json()["id"] for a in answers if a.status_code == 201}) == 25
    assert _claimed_count(app, offer["id"]) == 25
    assert count_rows(app, Coupon, Coupon.campaign_id == offer["id"]) == 25
    assert count_rows(app, JournalTransaction, JournalTransaction.kind == "claim") == 25
    assert sorted(balance(api, r) for r in residents) == sorted(
        [METRO_10_KM_G - 100] * 25 + [METRO_10_KM_G] * 15)
    assert all(balance(api, r) == METRO_10_KM_G - 100 for r in won)
    assert escrow_balance(app, shop.id) == 2500
    listed = api.http.get(f"/api/v1/campaigns/{offer['id']}", headers=residents[0].auth()).get_json()
    assert listed["remaining"] == 0
    assert claim(api.http, residents[0], offer["id"]).get_json()["code"] in ("sold_out", "over_limit")
    assert registry_ok(api, shop.auditor)


@pytest.mark.parametrize("limit", [1, 3])
def test_ten_concurrent_taps_with_one_idempotency_key_make_one_coupon(app, api, shop, limit):
    [resident] = residents_with_credits(app, api, 1)
    offer = create_campaign(api, shop, stock=10, per_resident_limit=limit)
    clients = [app.test_client() for _ in range(10)]
    answers = run_together([lambda c=c: claim(c, resident, offer["id"], key="double-tap") for c in clients])

    # every tap is answered with the one coupon (the first answer, or its replay)
    assert [a.status_code for a in answers] == [201] * 10, [a.get_json() for a in answers]
    assert len({a.get_json()["id"] for a in answers}) == 1
    assert count_rows(app, Coupon) == 1
    assert _claimed_count(app, offer["id"]) == 1
    assert balance(api, resident) == METRO_10_KM_G - 100
    assert count_rows(app, JournalTransaction, JournalTransaction.kind == "claim") == 1
    assert registry_ok(api, shop.auditor)


def test_concurrent_claims_without_a_key_stop_at_the_per_resident_limit(app, api, shop):
    [resident] = residents_with_credits(app, api, 1)
    offer = create_campaign(api, shop, stock=10, per_resident_limit=2)
    clients = [app.test_client() for _ in range(10)]
    answers = run_together([lambda c=c: claim(c, resident, offer["id"]) for c in clients])

    assert sorted(a.status_code for a in answers) == [201] * 2 + [409] * 8
    assert {a.get_json()["code"] for a in answers if a.status_code == 409} == {"over_limit"}
    assert count_rows(app, Coupon) == 2 and _claimed_count(app, offer["id"]) == 2
    assert balance(api, resident) == METRO_10_KM_G - 200
    assert registry_ok(api, shop.auditor)


def test_two_cashiers_redeeming_one_coupon_at_once_redeem_it_once(app, api, shop):
    residents = residents_with_credits(app, api, 8)
    offer = create_campaign(api, shop, stock=8, price_g=100)
    coupons = [claim(api.http, r, offer["id"]).get_json() for r in residents]
    tokens = [qr_token(api, r, c["id"]) for r, c in zip(residents, coupons)]
    cashiers = [shop.cashier, staff(app, api, "merchant_staff", merchant_id=shop.id)]

    for coupon, token in zip(coupons, tokens):  # eight separate races, one per coupon
        clients = [app.test_client(), app.test_client()]
        answers = run_together([lambda c=c, h=h: c.post("/api/v1/redemptions", json={"token": token}, headers=h)
                                for c, h in zip(clients, cashiers)])
        assert sorted(a.status_code for a in answers) == [200, 409], [a.get_json() for a in answers]
        [winner] = [a.get_json() for a in answers if a.status_code == 200]
        [loser] = [a.get_json() for a in answers if a.status_code == 409]
        assert winner["id"] == coupon["id"] and winner["status"] == "redeemed"
        assert loser["code"] == "already_redeemed" and shop.name in loser["detail"]
        assert winner["redeemed_at"][:19] in loser["detail"]  # the winner's time, not the loser's

    assert account_balance(app, shop.account_number) == 800 and escrow_balance(app, shop.id) == 0
    assert count_rows(app, JournalTransaction, JournalTransaction.kind == "redeem") == 8
    assert count_rows(app, Coupon, Coupon.status == "redeemed") == 8
    assert registry_ok(api, shop.auditor)


def test_redemptions_racing_the_expiry_sweep_are_refused_and_every_price_returns(app, api, shop):
    residents = residents_with_credits(app, api, 6)
    offer = create_campaign(api, shop, stock=6, price_g=100)
    coupons = [claim(api.http, r, offer["id"]).get_json() for r in residents]
    tokens = [qr_token(api, r, c["id"]) for r, c in zip(residents, coupons)]
    from config.extensions import db

    with app.app_context():  # just past their date: the sweep and the till meet on the same rows
        db.session.execute(update(Coupon).values(expires_at=ago(seconds=1)))
        db.session.commit()
    clients = [app.test_client() for _ in tokens]

    def sweep():
        with app.app_context():
            return expire_coupons()

    answers = run_together([sweep] + [lambda c=c, t=t: c.post("/api/v1/redemptions", json={"token": t},
                                                               headers=shop.cashier)
                                      for c, t in zip(clients, tokens)])
    assert all(a.status_code == 409 and a.get_json()["code"] == "coupon_expired" for a in answers[1:])
    assert answers[0] == 6
    assert [balance(api, r) for r in residents] == [METRO_10_KM_G] * 6
    assert account_balance(app, shop.account_number) == 0 and escrow_balance(app, shop.id) == 0
    assert registry_ok(api, shop.auditor)


def _coupons_due(app, api, shop, residents: int, per_resident: int):
    """`residents` residents each holding `per_resident` coupons, all past their expiry."""
    people = residents_with_credits(app, api, residents)
    offer = create_campaign(api, shop, stock=residents * per_resident, price_g=100, per_resident_limit=per_resident)
    for person in people:
        for _ in range(per_resident):
            assert claim(api.http, person, offer["id"]).status_code == 201
    from config.extensions import db

    with app.app_context():
        db.session.execute(update(Coupon).values(expires_at=ago(seconds=1)))
        db.session.commit()
    return people


def _each_price_returned_once(app, api, shop, people, total: int):
    from config.extensions import db

    assert [balance(api, p) for p in people] == [METRO_10_KM_G] * len(people)
    assert escrow_balance(app, shop.id) == 0
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Coupon).where(Coupon.status == "expired")) == total
        releases = db.session.scalars(select(Coupon.release_transaction_id)).all()
    assert None not in releases and len(set(releases)) == total
    assert count_rows(app, JournalTransaction, JournalTransaction.kind == "release") == total
    assert registry_ok(api, shop.auditor)


def test_two_expiry_sweeps_at_once_return_each_price_exactly_once(app, api, shop):
    people = _coupons_due(app, api, shop, residents=20, per_resident=2)

    def sweep():
        with app.app_context():
            return expire_coupons()

    swept = run_together([sweep, sweep])
    assert sum(swept) == 40
    _each_price_returned_once(app, api, shop, people, 40)
    with app.app_context():
        assert expire_coupons() == 0


def test_expiry_sweeps_in_small_batches_interleave_without_deadlock(app, api):
    """Residents older than the shop (lower account ids) with coupons in both sweeps' batches."""
    early = residents_with_credits(app, api, 12)  # opened before the merchant's accounts
    shop = open_shop(app, api)
    offer = create_campaign(api, shop, stock=36, price_g=100, per_resident_limit=3)
    for person in early:
        for _ in range(3):
            assert claim(api.http, person, offer["id"]).status_code == 201
    from config.db_types import utcnow
    from config.extensions import db
    from merchants.coupons import expire_due

    with app.app_context():
        db.session.execute(update(Coupon).values(expires_at=ago(seconds=1)))
        db.session.commit()

    def sweep():
        done = 0
        with app.app_context():
            while True:
                expired = expire_due(now=utcnow(), limit=2)
                db.session.commit()
                if not expired:
                    return done
                done += expired

    swept = run_together([sweep, sweep, sweep])
    assert sum(swept) == 36
    _each_price_returned_once(app, api, shop, early, 36)
