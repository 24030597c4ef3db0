"""Beat's issuance sweep: what a lost task or a missed daily run left is issued, once."""
from datetime import timedelta

from sqlalchemy import func, select

from accounting.business_day import shanghai_day
from accounting.issuance import batches
from accounting.issuance.models import IssuanceBatch
from accounting.issuance.tasks import sweep_issuance
from config.db_types import utcnow
from config.extensions import db
from tests.registry_support import add_reductions, balances, open_accounts


def test_an_approved_batch_whose_issue_task_was_lost_is_issued_by_the_sweep(app, monkeypatch):
    monkeypatch.setitem(app.config, "ISSUANCE_AUTO_APPROVE_MAX_G", 100)  # big batches wait for an auditor
    day = shanghai_day(utcnow()) - timedelta(days=3)
    with app.app_context():
        (a_id, _), (b_id, _) = open_accounts(2)
        add_reductions(day, {a_id: 250, b_id: 130})
        [proposed] = batches.propose_batches(day, actor_id=5, auto_approve_max_g=100)
        db.session.commit()
        batches.approve_batch(proposed.id, actor_id=6)
        db.session.commit()  # ...and the task that would issue it never ran
        assert sweep_issuance() == {"issued": [proposed.id], "days": []}
        assert balances(a_id, b_id) == {a_id: 250, b_id: 130}
        assert sweep_issuance() == {"issued": [], "days": []}


def test_a_day_the_sweep_issued_is_left_alone_for_a_while_then_its_late_reductions_are_issued(app):
    today = shanghai_day(utcnow())
    day = today - timedelta(days=2)
    with app.app_context():
        (a_id, _), (b_id, _) = open_accounts(2)
        add_reductions(day, {a_id: 100})
        db.session.commit()
        assert sweep_issuance()["days"] == [day.isoformat()]
        add_reductions(day, {b_id: 40})  # a late report of that day, quantified after its batch
        db.session.commit()
        now = utcnow()
        assert batches.days_to_catch_up(today, now) == []  # one more batch a day, not one a minute
        assert batches.days_to_catch_up(today, now + batches.CATCH_UP_PAUSE + timedelta(minutes=1)) == [day]
        assert batches.days_to_catch_up(today - timedelta(days=2), now + timedelta(days=1)) == []  # not today
        counted = db.session.scalar(select(func.count()).select_from(IssuanceBatch))
    assert counted == 1
