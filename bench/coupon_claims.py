"""The claims part of bench/coupons.py: residents claiming coupons over HTTP, back to back or paced,
the hot campaign and the spread ones taking turns in rounds, and the oversell check afterwards."""
import contextlib
import json
import os
import time
from collections import Counter

import psycopg
from clients import Pacer, cpu_line, describe, ms, run_clients


def _claims(connection, work, deadline):
    """Claim until the deadline (or `attempts`), cycling this client's residents; back to back, or
    (`pace` > 0) one claim every `pace` seconds from a random offset."""
    tokens, campaign_ids, offset, attempts = work["tokens"], work["campaigns"], work["offset"], work["attempts"]
    latencies, answers = [], Counter()
    turns = Pacer(work.get("pace", 0.0))
    i = 0
    while attempts is None or i < attempts:
        turns.wait()
        if time.time() >= deadline:
            break
        campaign_id = campaign_ids[(offset + i * 7919) % len(campaign_ids)]
        t0 = time.perf_counter()
        connection.request("POST", f"/api/v1/campaigns/{campaign_id}/claim",
                           headers={"Authorization": f"Bearer {tokens[i % len(tokens)]}", "Content-Length": "0"})
        response = connection.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - t0
        if response.status == 201:
            latencies.append(elapsed)
            answers["201"] += 1
        else:
            answers[f"{response.status} {json.loads(body).get('code')}"] += 1
        i += 1
    return latencies, answers


def run_claims(base: str, database: str, tokens: list[str], campaign_ids: list[int], clients: int, seconds: float,
               attempts: int | None = None, pace: float = 0.0) -> dict:
    """`clients` processes, each with its own slice of the residents (no two share an account row)."""
    works = [{"base": base, "seconds": seconds, "tokens": tokens[n::clients], "campaigns": campaign_ids,
              "offset": n * 104729, "attempts": None if attempts is None else -(-attempts // clients), "pace": pace}
             for n in range(clients)]
    results, cpu = run_clients(_claims, works, database)
    latencies = sorted(latency for (lat, _), _, _ in results for latency in lat)
    answers = sum((answers for (_, answers), _, _ in results), Counter())
    elapsed = max(seconds for _, seconds, _ in results)
    return {"latencies": latencies, "answers": answers, "seconds": elapsed, "rate": len(latencies) / elapsed,
            "cpu": cpu}


def merged(runs: list[dict]) -> dict:
    """Several slices of one kind as one run: every latency, answer and CPU second, over their time."""
    seconds = sum(run["seconds"] for run in runs)
    latencies = sorted(x for run in runs for x in run["latencies"])
    return {"latencies": latencies, "answers": sum((run["answers"] for run in runs), Counter()), "seconds": seconds,
            "rate": len(latencies) / seconds, "slices": [run["rate"] for run in runs],
            "cpu": {side: sum(run["cpu"][side] for run in runs) for side in runs[0]["cpu"]}}


def hot_and_spread_in_rounds(base: str, database: str, tokens: list[str], hot: int, spread: list[int],
                             clients: int, seconds: float, rounds: int,
                             samplers=(contextlib.nullcontext(), contextlib.nullcontext())
                             ) -> tuple[dict, dict, list[float]]:
    """The hot campaign and the spread ones claimed back to back in `rounds` slices taking turns
    (hot, spread, hot, …), so whatever else loads the machine weighs on both alike, each kind's
    slices under its own sampler. The 1-min load average at each slice's start comes back too."""
    hot_runs, spread_runs, loads = [], [], []
    for _ in range(rounds):
        for campaigns, runs, sampler in (([hot], hot_runs, samplers[0]), (spread, spread_runs, samplers[1])):
            loads.append(os.getloadavg()[0])
            with sampler:
                runs.append(run_claims(base, database, tokens, campaigns, clients, seconds / rounds))
    return merged(hot_runs), merged(spread_runs), loads


def claims_line(label: str, run: dict, target: float | None = None) -> str:
    lat = run["latencies"]
    verdict = "" if target is None else f" (target >= {target:g}/s) {'PASS' if run['rate'] >= target else 'FAIL'}"
    slices = f" (slices: {', '.join(f'{rate:,.0f}' for rate in run['slices'])}/s)" if "slices" in run else ""
    return (f"{label}: {len(lat):,} claims in {run['seconds']:.1f} s = {run['rate']:,.0f} claims/s{slices}; "
            f"p50 {ms(lat, 0.5):.1f} ms, p99 {ms(lat, 0.99):.1f} ms{verdict}\n"
            f"          answers: {describe(run['answers'])}\n          {cpu_line(run['cpu'], len(lat), 'claim')}")


def oversell_check(database_url: str) -> tuple[int, int, int]:
    """(campaigns checked, campaigns oversold, campaigns whose coupons differ from claimed_count)."""
    with psycopg.connect(database_url) as connection:
        return connection.execute(
            """SELECT count(*), count(*) FILTER (WHERE c.claimed_count > c.stock),
                      count(*) FILTER (WHERE c.claimed_count <> coalesce(k.n, 0))
               FROM campaigns c LEFT JOIN (SELECT campaign_id, count(*) AS n FROM coupons GROUP BY campaign_id) k
                    ON k.campaign_id = c.id""").fetchone()
