"""Requests share one quantification task per window instead of queueing one each.

No clock is raced: the window's end is brought about, not waited for. The Redis key that
marks a task on its way is made to expire, and this process's own memory of it is moved
past the half window by its clock.
"""
import json

from api import after_commit
from tests.support import ago


def test_a_burst_of_trips_queues_one_task_that_runs_after_the_window(app, api, resident, quantification_deferred,
                                                                       monkeypatch):
    redis = app.extensions["redis"]
    now = [1000.0]
    monkeypatch.setattr(after_commit, "clock", lambda: now[0])
    for minutes_ago in (300, 240, 180, 120, 60):
        assert api.trip(resident, mode="bike", distance_m=2000, minutes=10,
                        start=ago(minutes=minutes_ago)).status_code == 202
    queued = [json.loads(message) for message in redis.lrange("celery", 0, -1)]
    assert [m["headers"]["task"] for m in queued] == ["accounting.quantify_received"]
    assert queued[0]["headers"]["eta"] is not None  # runs a second later, after the window closed
    [key] = redis.keys("coalesce:*")

    # Half a window on, this process still remembers the task on its way: nothing more is sent,
    # even with the Redis key gone.
    redis.delete(key)
    now[0] += after_commit.QUANTIFY_WINDOW_SECONDS / 2 - 0.01
    assert api.trip(resident, mode="bike", distance_m=2000, minutes=10, start=ago(minutes=45)).status_code == 202
    assert redis.llen("celery") == 1

    # Once the window has passed (the key expired, the memory too), the next trip queues the next task.
    now[0] += 0.02
    assert api.trip(resident, mode="bike", distance_m=2000, minutes=10, start=ago(minutes=30)).status_code == 202
    assert redis.llen("celery") == 2


def test_while_the_key_is_held_another_process_sends_nothing(app, api, resident, quantification_deferred, monkeypatch):
    """A process that does not remember the task (another gunicorn worker) finds the key held."""
    redis = app.extensions["redis"]
    now = [1000.0]
    monkeypatch.setattr(after_commit, "clock", lambda: now[0])
    assert api.trip(resident, mode="bike", distance_m=2000, minutes=10, start=ago(minutes=90)).status_code == 202
    [key] = redis.keys("coalesce:*")
    redis.pexpire(key, 60_000)  # still held however slow the machine is: the window is not raced
    after_commit.forget_coalesced_windows(app)  # as if the next request reached another process
    assert api.trip(resident, mode="bike", distance_m=2000, minutes=10, start=ago(minutes=60)).status_code == 202
    assert redis.llen("celery") == 1
