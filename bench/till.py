"""The till part of bench/coupons.py: cashiers scanning residents' coupons (verify, then
redeem) over HTTP, back to back or paced, and the coupons waiting for them."""
import json
import multiprocessing
import time
import uuid
from collections import Counter

import psycopg
from clients import Pacer, connection_to, cpu_line, describe, ms, run_clients


def _token_client(args):
    """Fetch each coupon's QR token the way the resident's app does."""
    base, jobs = args
    connection = connection_to(base)
    tokens = []
    for coupon_id, resident_token in jobs:
        connection.request("GET", f"/api/v1/me/coupons/{coupon_id}",
                           headers={"Authorization": f"Bearer {resident_token}"})
        response = connection.getresponse()
        body = json.loads(response.read())
        if response.status != 200:
            raise RuntimeError(f"coupon {coupon_id}: {response.status} {body}")
        tokens.append(body["qr_token"])
    return tokens


def fetch_qr_tokens(base: str, jobs: list[tuple[int, str]], clients: int) -> list[str]:
    chunks = [jobs[n::clients] for n in range(clients)]
    with multiprocessing.get_context("spawn").Pool(clients) as pool:
        results = pool.map(_token_client, [(base, chunk) for chunk in chunks])
    tokens = [None] * len(jobs)
    for n, chunk_tokens in enumerate(results):
        tokens[n::clients] = chunk_tokens
    return tokens


def _cashier(connection, work, deadline):
    """One cashier: scan (verify), then redeem, coupon after coupon, until done or the deadline;
    back to back, or (`pace` > 0) one customer every `pace` seconds, starting at a random offset."""
    headers = {"Authorization": f"Bearer {work['cashier']}", "Content-Type": "application/json"}
    verify_s, redeem_s, round_s, failures = [], [], [], Counter()
    customers = Pacer(work["pace"])
    for token in work["qr"]:
        customers.wait()
        if time.time() >= deadline:
            break
        body = json.dumps({"token": token})
        t0 = time.perf_counter()
        connection.request("POST", "/api/v1/redemptions/verify", body=body, headers=headers)
        response = connection.getresponse()
        checked = json.loads(response.read())
        t1 = time.perf_counter()
        if response.status != 200 or not checked.get("valid"):
            failures[f"verify {response.status} {checked.get('code') or checked.get('reason')}"] += 1
            continue
        connection.request("POST", "/api/v1/redemptions", body=body, headers=headers)
        response = connection.getresponse()
        redeemed = json.loads(response.read())
        t2 = time.perf_counter()
        if response.status != 200 or redeemed.get("status") != "redeemed":
            failures[f"redeem {response.status} {redeemed.get('code')}"] += 1
            continue
        verify_s.append(t1 - t0)
        redeem_s.append(t2 - t1)
        round_s.append(t2 - t0)
    return verify_s, redeem_s, round_s, failures, len(work["qr"])


def run_till(base: str, database: str, work: list[tuple[str, list[str]]], seconds: float, pace: float) -> dict:
    results, cpu = run_clients(_cashier, [{"base": base, "seconds": seconds, "cashier": cashier, "qr": qr,
                                           "pace": pace} for cashier, qr in work], database)
    verify = sorted(x for r, _, _ in results for x in r[0])
    redeem = sorted(x for r, _, _ in results for x in r[1])
    rounds = sorted(x for r, _, _ in results for x in r[2])
    failures = sum((r[3] for r, _, _ in results), Counter())
    ran_out = sum(1 for r, _, _ in results if len(r[2]) + sum(r[3].values()) == r[4])
    elapsed = max(seconds for _, seconds, _ in results)
    return {"verify": verify, "redeem": redeem, "rounds": rounds, "failures": failures, "seconds": elapsed,
            "rate": len(rounds) / elapsed, "ran_out": ran_out, "cpu": cpu}


def till_queues(app, base: str, database_url: str, shops: list[int], per_shop: int, people, token_of_account,
                cashier_tokens, clients: int) -> tuple[list[tuple[str, list[str]]], int, float]:
    """Each shop topped up to `per_shop` waiting coupons, and their QR tokens fetched as the
    holders' apps do: [(cashier token, [QR token, ...])] per shop, coupons fetched, seconds."""
    top_up_coupons(app, database_url, shops, per_shop, people)
    with psycopg.connect(database_url) as connection:
        claimed = connection.execute(
            """SELECT c.id, c.account_id, p.merchant_id FROM coupons c JOIN campaigns p ON p.id = c.campaign_id
               WHERE c.status = 'claimed' AND p.merchant_id = ANY(%s) ORDER BY c.id""", (shops,)).fetchall()
    by_merchant: dict[int, list[tuple[int, int]]] = {}
    for coupon_id, account_id, merchant_id in claimed:
        by_merchant.setdefault(merchant_id, []).append((coupon_id, account_id))
    jobs = [(coupon_id, token_of_account[account_id]) for m in shops for coupon_id, account_id in by_merchant[m]]
    started = time.perf_counter()
    qr_of = dict(zip((coupon_id for coupon_id, _ in jobs), fetch_qr_tokens(base, jobs, clients)))
    return ([(cashier_tokens[m], [qr_of[c] for c, _ in by_merchant[m]]) for m in shops], len(jobs),
            time.perf_counter() - started)


def top_up_coupons(app, database_url: str, merchant_ids: list[int], per_shop: int, people) -> None:
    """Make sure each shop has `per_shop` coupons waiting at the till (claimed by the service)."""
    from accounting.ledger.idempotency import Idempotency
    from config.db_types import utcnow
    from config.extensions import db
    from merchants.coupons import claim

    with psycopg.connect(database_url) as connection:
        waiting = dict(connection.execute(
            """SELECT p.merchant_id, count(c.id) FROM campaigns p LEFT JOIN coupons c
                   ON c.campaign_id = p.id AND c.status = 'claimed'
               WHERE p.merchant_id = ANY(%s) GROUP BY p.merchant_id""", (merchant_ids,)).fetchall())
        first_campaign = dict(connection.execute(
            "SELECT merchant_id, min(id) FROM campaigns WHERE merchant_id = ANY(%s) GROUP BY merchant_id",
            (merchant_ids,)).fetchall())
    n = 0
    with app.app_context():
        for merchant_id in merchant_ids:
            for _ in range(per_shop - waiting.get(merchant_id, 0)):
                key = uuid.uuid4().hex
                claim(first_campaign[merchant_id], people[n % len(people)][2], Idempotency("bench", key, key),
                      now=utcnow())
                db.session.commit()
                n += 1


def till_line(label: str, till: dict) -> str:
    p99 = ms(till["redeem"], 0.99)
    return (f"till    : {label}: {len(till['rounds']):,} verify + redeem round trips in {till['seconds']:.1f} s = "
            f"{till['rate']:,.0f}/s\n"
            f"          redeem p50 {ms(till['redeem'], 0.5):.1f} ms, p99 {p99:.1f} ms (target p99 < 100 ms) "
            f"{'PASS' if p99 < 100 else 'FAIL'}; verify p50 {ms(till['verify'], 0.5):.1f} ms, "
            f"p99 {ms(till['verify'], 0.99):.1f} ms; round trip p50 {ms(till['rounds'], 0.5):.1f} ms, "
            f"p99 {ms(till['rounds'], 0.99):.1f} ms" + (f"; failures: {describe(till['failures'])}"
                                                        if till["failures"] else "")
            + (f"; {till['ran_out']} cashiers ran out of coupons before the end" if till["ran_out"] else "")
            + f"\n          {cpu_line(till['cpu'], len(till['rounds']), 'round trip')}")
