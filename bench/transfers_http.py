"""POST /api/v1/transfers over HTTP next to GET /healthz, same gunicorn, same clients, interleaved:
what a movement costs on top of the server's own empty request."""
import json
import random
import time
import uuid
from collections import Counter
from datetime import timedelta

import harness
import psycopg
from clients import run_clients

SENDERS_PER_CLIENT = 8


def add_users(database_url: str, accounts: list[tuple[int, str]]) -> list[tuple[int, int, int]]:
    """A resident user for each of these accounts' holders; [(user, holder, account)]."""
    with psycopg.connect(database_url) as connection:
        rows = connection.execute(
            """INSERT INTO users (phone, password_hash, role, display_name, holder_id, created_at)
               SELECT '1392' || lpad(a.id::text, 7, '0'), 'bench: signs in by minted token', 'resident',
                      'bench ' || a.id, a.holder_id, now()
               FROM accounts a WHERE a.id = ANY(%s) RETURNING id, holder_id""",
            ([account_id for account_id, _ in accounts],)).fetchall()
        holders = dict(connection.execute("SELECT holder_id, id FROM accounts WHERE id = ANY(%s)",
                                          ([account_id for account_id, _ in accounts],)).fetchall())
        connection.commit()
    return [(user_id, holder_id, holders[holder_id]) for user_id, holder_id in rows]


def tokens_for(app, users: list[tuple[int, int, int]]) -> list[str]:
    """What api/identity/tokens.py puts in an access token, minted in-process for three hours."""
    from flask_jwt_extended import create_access_token

    with app.app_context():
        return [create_access_token(identity=str(user_id), expires_delta=timedelta(hours=3), additional_claims={
            "role": "resident", "hid": holder_id, "aid": account_id, "sid": uuid.uuid4().hex})
            for user_id, holder_id, account_id in users]


def _transfers(connection, work, deadline):
    rng, tokens, numbers = random.Random(work["seed"]), work["tokens"], work["numbers"]
    answers, i = Counter(), 0
    while time.time() < deadline:
        body = json.dumps({"to_account_number": rng.choice(numbers), "amount_g": rng.randint(1, 3)})
        connection.request("POST", "/api/v1/transfers", body=body, headers={
            "Authorization": f"Bearer {tokens[i % len(tokens)]}", "Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        answers[response.status] += 1
        i += 1
    return answers


def _healthz(connection, work, deadline):
    answers = Counter()
    while time.time() < deadline:
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        response.read()
        answers[response.status] += 1
    return answers


def measure(app, database_url: str, database_name: str, accounts: list[tuple[int, str]], clients: int,
            seconds: float, rounds: int, gunicorn_workers: int = 4) -> dict:
    """Requests/s of each, slices taking turns; answers other than 201/200 are reported, not counted."""
    senders = add_users(database_url, accounts[:clients * SENDERS_PER_CLIENT])
    tokens = tokens_for(app, senders)
    numbers = [number for _, number in accounts]
    slice_seconds = seconds / rounds
    rates, answers = {"transfers": [], "healthz": []}, {"transfers": Counter(), "healthz": Counter()}
    with harness.gunicorn(database_url, gunicorn_workers) as base:
        for _ in range(rounds):
            for kind, target, ok in (("healthz", _healthz, 200), ("transfers", _transfers, 201)):
                works = [{"base": base, "seconds": slice_seconds, "seed": n, "numbers": numbers,
                          "tokens": tokens[n * SENDERS_PER_CLIENT:(n + 1) * SENDERS_PER_CLIENT]}
                         for n in range(clients)]
                results, _ = run_clients(target, works, database_name)
                counted = sum((outcome for outcome, _, _ in results), Counter())
                answers[kind] += counted
                rates[kind].append(counted[ok] / max(elapsed for _, elapsed, _ in results))
    return {kind: sum(values) / len(values) for kind, values in rates.items()} | {"answers": answers,
                                                                                  "slices": rates}
