"""Requests share one quantification task per window instead of queueing one each."""
import json
import time

from tests.support import ago


def test_a_burst_of_trips_queues_one_task_that_runs_after_the_window(app, api, resident, quantification_deferred):
    redis = app.extensions["redis"]
    for minutes_ago in (300, 240, 180, 120, 60):
        assert api.trip(resident, mode="bike", distance_m=2000, minutes=10,
                        start=ago(minutes=minutes_ago)).status_code == 202
    queued = [json.loads(message) for message in redis.lrange("celery", 0, -1)]
    assert [m["headers"]["task"] for m in queued] == ["accounting.quantify_received"]
    assert queued[0]["headers"]["eta"] is not None  # runs a second later, after the window closed
    # Once the window has passed (the key is held, and remembered, for half of it), the next
    # trip queues the next task.
    time.sleep(0.6)
    assert api.trip(resident, mode="bike", distance_m=2000, minutes=10, start=ago(minutes=30)).status_code == 202
    assert redis.llen("celery") == 2
