"""PIPL rights: the consent history, and closing an account (DELETE /api/v1/me)."""
from sqlalchemy import select

from tests.coupons_support import (
    METRO_10_KM_G,
    balance,
    claim,
    create_campaign,
    open_shop,
    residents_with_credits,
    staff,
)
from tests.support import RESIDENT_PASSWORD, SourceClient

ZH, EN = {"Accept-Language": "zh-CN"}, {"Accept-Language": "en"}


def close(api, resident, **body):
    body = {"password": RESIDENT_PASSWORD, "balance": "donate"} | body
    return api.http.delete("/api/v1/me", json=body, headers=resident.auth())


def consent_history(api, resident, **query):
    answer = api.http.get("/api/v1/me/consents", query_string=query, headers=resident.auth())
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def test_every_authorization_and_withdrawal_is_kept_newest_first(app, api, resident):
    SourceClient.filed(app, "BZBUS", "transit", "滨州公交")
    for method in ("put", "put", "delete", "put"):  # authorizing twice changes nothing the second time
        answer = getattr(api.http, method)("/api/v1/me/sources/BZBUS", headers=resident.auth())
        assert answer.status_code in (200, 204), answer.get_json()
    history = consent_history(api, resident)
    assert [(e["action"], e["source_code"], e["scope"], e["cause"]) for e in history["items"]] == [
        ("authorize", "BZBUS", "transit", "resident"), ("withdraw", "BZBUS", "transit", "resident"),
        ("authorize", "BZBUS", "transit", "resident")]
    assert history["next_cursor"] is None and history["items"][0]["source_name"] == "滨州公交"
    first_page = consent_history(api, resident, limit=2)
    rest = consent_history(api, resident, limit=2, cursor=first_page["next_cursor"])
    assert [e["id"] for e in first_page["items"] + rest["items"]] == [e["id"] for e in history["items"]]
    assert rest["next_cursor"] is None
    other = api.register()
    assert consent_history(api, other)["items"] == []  # only one's own


def test_the_consent_history_cannot_be_rewritten_even_by_the_app(app, api, resident):
    import pytest
    import sqlalchemy as sa

    from config.extensions import db

    SourceClient.filed(app, "BZBUS", "transit")
    api.http.put("/api/v1/me/sources/BZBUS", headers=resident.auth())
    with app.app_context():
        for statement in ("UPDATE consent_events SET action = 'withdraw'", "DELETE FROM consent_events"):
            with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
                db.session.execute(sa.text(statement))
            db.session.rollback()


def _closing_resident(app, api):
    """A resident holding one trip's credits, a claimed coupon, an authorized source and a trip not issued yet;
    and the shop, the auditor and the serial of one of the resident's units."""
    shop = open_shop(app, api)
    [resident] = residents_with_credits(app, api, 1)
    campaign = create_campaign(api, shop, price_g=100)
    assert claim(api.http, resident, campaign["id"]).status_code == 201
    SourceClient.filed(app, "BZBUS", "transit")
    assert api.http.put("/api/v1/me/sources/BZBUS", headers=resident.auth()).status_code == 200
    assert api.trip(resident, mode="metro", distance_m=5000).status_code == 202  # quantified, in no batch
    [issued] = [line for line in api.http.get("/api/v1/me/ledger", headers=resident.auth()).get_json()["items"]
                if line["type"] == "issue"]
    serial = issued["serials"][0].rsplit("-", 1)[0]  # the range's first unit
    return resident, shop, serial


def _user(app, user_id):
    from api.identity.models import User
    from config.extensions import db

    with app.app_context():
        user = db.session.get(User, user_id)
        db.session.expunge(user)
        return user


def test_closing_donates_the_balance_ends_sessions_and_leaves_only_a_pseudonym(app, api):
    resident, shop, serial = _closing_resident(app, api)
    assert balance(api, resident) == METRO_10_KM_G - 100
    closed = close(api, resident, beneficiary="ignored with donate")
    assert closed.status_code == 200, closed.get_json()
    body = closed.get_json()
    # The coupon's price came back first, so the whole trip's credits went to the pool.
    assert (body["balance"], body["amount_g"], body["released_coupons"], body["released_g"]) == (
        "donate", METRO_10_KM_G, 1, 100)
    assert body["withdrawn_consents"] == 1 and body["forgone_g"] > 0 and body["retirement"] is None
    assert body["pool_account_number"] == "SYSPOOL"
    assert api.http.get("/api/v1/market/pool").get_json()["credits_g"] == METRO_10_KM_G

    # Every token of the resident is refused, and nobody signs in as them again.
    assert api.http.get("/api/v1/me", headers=resident.auth()).status_code == 401
    refreshed = api.http.post("/api/v1/auth/refresh", headers={"Authorization": f"Bearer {resident.refresh_token}"})
    assert refreshed.status_code == 401 and refreshed.get_json()["code"] == "token_revoked"
    login = api.http.post("/api/v1/auth/login", json={"phone": resident.phone, "password": RESIDENT_PASSWORD})
    assert login.status_code == 401 and login.get_json()["code"] == "bad_credentials"
    again = close(api, resident)
    assert again.status_code == 401, again.get_json()

    user = _user(app, resident.user_id)
    assert user.phone.startswith("closed-") and user.display_name == user.phone and user.password_hash is None
    pseudonym_login = api.http.post("/api/v1/auth/login", json={"phone": user.phone, "password": ""})
    assert pseudonym_login.status_code in (401, 422)

    # The same phone registers afresh: a new person, a new account, nothing of the old one.
    newcomer = api.register(phone=resident.phone)
    assert newcomer.user_id != resident.user_id and newcomer.account_number != resident.account_number
    assert balance(api, newcomer) == 0
    assert api.http.get("/api/v1/me/ledger", headers=newcomer.auth()).get_json()["items"] == []

    # A traced unit still leads to the closed account and its event, with nothing personal on the way.
    traced = api.http.get(f"/api/v1/registry/units/{serial}", headers=shop.auditor)
    assert traced.status_code == 200, traced.get_json()
    assert traced.get_json()["holders"][0]["account_number"] == resident.account_number
    assert resident.phone not in traced.get_data(as_text=True) and "测试居民" not in traced.get_data(as_text=True)

    # The audit log says the account closed, and what became of its credits, naming nobody.
    records = api.http.get("/api/v1/audit-log", query_string={"limit": 100}, headers=shop.auditor).get_json()["items"]
    [record] = [r for r in records if r["action"] == "account_closed"]
    assert record["subject"] == f"account:{resident.account_number}"
    assert record["payload"]["amount_g"] == METRO_10_KM_G and record["payload"]["balance"] == "donate"
    log_text = str(records)
    assert resident.phone not in log_text and "测试居民" not in log_text
    _consents_withdrawn_and_pending_forgone(app, resident)


def _consents_withdrawn_and_pending_forgone(app, resident):
    from accounting.ledger.models import Account
    from accounting.record.models import ConsentEvent, GreenEvent, SourceAuthorization
    from config.extensions import db

    with app.app_context():
        account = db.session.scalar(select(Account).where(Account.number == resident.account_number))
        assert account.balance_g == 0 and account.frozen_at is not None and account.holder.closed_at is not None
        actions = db.session.execute(select(ConsentEvent.action, ConsentEvent.cause)
                                     .where(ConsentEvent.account_id == account.id).order_by(ConsentEvent.id)).all()
        assert actions == [("authorize", "resident"), ("withdraw", "account_closed")]
        assert db.session.scalar(select(SourceAuthorization.revoked_at)
                                 .where(SourceAuthorization.account_id == account.id)) is not None
        statuses = db.session.execute(select(GreenEvent.status, GreenEvent.reason)
                                      .where(GreenEvent.account_id == account.id).order_by(GreenEvent.id)).all()
        assert statuses == [("issued", None), ("rejected", "account_closed")]


def test_closing_can_retire_the_balance_for_a_named_beneficiary_with_its_certificate(app, api):
    [resident] = residents_with_credits(app, api, 1)
    closed = close(api, resident, balance="retire", beneficiary="滨州市第一中学")
    assert closed.status_code == 200, closed.get_json()
    retirement = closed.get_json()["retirement"]
    public = api.http.get(f"/api/v1/retirements/{retirement['number']}").get_json()
    assert (public["amount_g"], public["beneficiary"]) == (METRO_10_KM_G, "滨州市第一中学")
    certificate = api.http.get(retirement["certificate_url"])
    assert certificate.status_code == 200 and certificate.mimetype == "image/svg+xml"
    assert api.http.get("/api/v1/market/pool").get_json()["credits_g"] == 0


def test_a_closure_that_fails_half_way_leaves_everything_as_it_was(app, api, monkeypatch):
    from api.privacy import closure

    resident, shop, _ = _closing_resident(app, api)
    before = balance(api, resident)

    def broken(*args):
        raise RuntimeError("the disk caught fire after the donation")

    monkeypatch.setattr(closure, "_pseudonymise", broken)
    failed = close(api, resident)
    assert failed.status_code == 500 and failed.get_json()["code"] == "internal_error"
    monkeypatch.undo()
    # Nothing of it happened: the balance and the coupon are where they were, the pool is empty,
    # the consent stands, the tokens work, and nothing was audited.
    assert balance(api, resident) == before
    assert api.http.get("/api/v1/market/pool").get_json()["credits_g"] == 0
    coupons = api.http.get("/api/v1/me/coupons", headers=resident.auth()).get_json()["items"]
    assert [c["status"] for c in coupons] == ["claimed"]
    assert [s["code"] for s in api.http.get("/api/v1/me/sources", headers=resident.auth()).get_json()["items"]] == [
        "BZBUS"]
    assert [e["action"] for e in consent_history(api, resident)["items"]] == ["authorize"]
    records = api.http.get("/api/v1/audit-log", query_string={"limit": 100}, headers=shop.auditor).get_json()["items"]
    assert not [r for r in records if r["action"] == "account_closed"]
    # ...and the closure, asked again, goes through whole.
    assert close(api, resident).status_code == 200
    assert api.http.get("/api/v1/market/pool").get_json()["credits_g"] == METRO_10_KM_G


def test_closing_refuses_bad_input_in_either_language_and_changes_nothing(app, api):
    [resident] = residents_with_credits(app, api, 1)
    wrong = api.http.delete("/api/v1/me", json={"password": "not it", "balance": "donate"},
                            headers=resident.auth(**EN))
    assert wrong.status_code == 403 and wrong.mimetype == "application/problem+json"
    assert (wrong.get_json()["code"], wrong.get_json()["title"]) == ("wrong_password", "Wrong password")
    wrong_zh = api.http.delete("/api/v1/me", json={"password": "not it", "balance": "donate"},
                               headers=resident.auth(**ZH))
    assert wrong_zh.status_code == 403 and wrong_zh.get_json()["title"] == "密码错误"
    cases = [({"balance": "donate"}, "password"), ({"password": RESIDENT_PASSWORD, "balance": "burn"}, "balance"),
             ({"password": RESIDENT_PASSWORD, "balance": "retire"}, "beneficiary"),
             ({"password": RESIDENT_PASSWORD, "balance": "retire", "beneficiary": "  "}, "beneficiary")]
    for body, field in cases:
        answers = [api.http.delete("/api/v1/me", json=body, headers=resident.auth(**lang)) for lang in (EN, ZH)]
        for answer in answers:
            assert answer.status_code == 422 and answer.mimetype == "application/problem+json", answer.get_json()
            assert list(answer.get_json()["errors"]) == [field], answer.get_json()
        english, chinese = (a.get_json()["errors"][field][0] for a in answers)
        assert english != chinese and any("\u4e00" <= ch <= "\u9fff" for ch in chinese), (english, chinese)
    assert api.http.delete("/api/v1/me", headers=resident.auth()).status_code in (400, 415, 422)
    retire_needs = api.http.delete("/api/v1/me", json=cases[2][0], headers=resident.auth(**EN)).get_json()
    assert retire_needs["errors"]["beneficiary"] == ["Name the beneficiary the balance is retired for."]
    assert balance(api, resident) == METRO_10_KM_G  # nothing moved
    auditor = staff(app, api, "auditor")
    assert api.http.delete("/api/v1/me", json={"password": "staff-password-1", "balance": "donate"},
                           headers=auditor).status_code == 403
