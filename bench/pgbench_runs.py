"""pgbench, the baseline every benchmark measures against, run on a script of ours or a peer's."""
import os
import re
import subprocess
import tempfile
from pathlib import Path

import psycopg
from harness import ROOT, make_url_for


def run_pgbench(database_url: str, script: str, clients: int, seconds: float, protocol: str = "simple",
                **variables) -> float:
    """tps of `script` (pgbench's own language) with `clients` connections, sent by `protocol`
    (pgbench's -M: simple, extended or prepared); failed transactions refused."""
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as file:
        file.write(script)
    defines = [f"-D{name}={value}" for name, value in variables.items()]
    try:
        completed = subprocess.run(
            ["pgbench", "-n", "-c", str(clients), "-j", "2", "-M", protocol, "-T", str(max(1, round(seconds))),
             *defines, "-f", file.name, database_url], capture_output=True, text=True, check=True)
    finally:
        os.unlink(file.name)
    match = re.search(r"tps = ([\d.]+) \(without initial connection time\)", completed.stdout)
    if not match:
        raise RuntimeError(f"no tps in pgbench output:\n{completed.stdout}\n{completed.stderr}")
    failed = re.search(r"number of failed transactions: (\d+)", completed.stdout)
    if failed and int(failed.group(1)):
        raise RuntimeError(f"pgbench had failed transactions:\n{completed.stdout}")
    return float(match.group(1))


# Our movement as the service layer calls it (accounting/ledger/movement.py MOVE_TO_ACCOUNT, its
# arguments by name), between two random accounts of :lo..:hi, a fresh idempotency key each time.
# The service's driver (psycopg) prepares a statement from its fifth execution on a connection, so
# this script and the peer's are run prepared (PREPARED below), each the same way.
LEDGER_MOVE_SCRIPT = """\\set a random(:lo, :hi)
\\set b random(:lo, :hi - 1)
\\set b case when :b >= :a then :b + 1 else :b end
\\set amount random(1, 3)
SELECT * FROM ledger_move(p_kind => 'transfer', p_scope => 'pgbench', p_key => 'pgbench-' || txid_current(),
    p_request_hash => 'pgbench', p_actor_id => NULL, p_memo => NULL, p_from => :a, p_to => :b, p_amount => :amount,
    p_status => 'active', p_within_batch => NULL, p_within_first => NULL, p_within_last => NULL,
    p_sender_may_be_frozen => false, p_receiver_may_be_frozen => false, p_audit_actor => 'system',
    p_audit_action => NULL, p_audit_subject => NULL, p_audit_payload => '{}', p_at => now());
"""

# pgledger's transfer between two random accounts of the 1..:n it was given (bench_accounts maps
# a number to pgledger's text id).
PGLEDGER_SCRIPT = """\\set a random(1, :n)
\\set b random(1, :n - 1)
\\set b case when :b >= :a then :b + 1 else :b end
\\set amount random(1, 3)
SELECT * FROM pgledger_create_transfer((SELECT id FROM bench_accounts WHERE n = :a),
                                       (SELECT id FROM bench_accounts WHERE n = :b), :amount);
"""

PREPARED = "prepared"

PGLEDGER_FILES = ("ulid-to-uuid.sql", "uuid-to-ulid.sql", "pgledger.sql")


def pgledger_sql_dir() -> Path:
    """PGLEDGER_SQL_DIR, or the copy kept beside the project (../shared/peers/pgledger)."""
    return Path(os.environ.get("PGLEDGER_SQL_DIR") or ROOT.parent / "shared" / "peers" / "pgledger")


def load_pgledger(admin_url: str, name: str, accounts: int) -> str:
    """A scratch database with pgledger loaded (never the project's) and `accounts` accounts; its URL."""
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url_for(name)
    folder = pgledger_sql_dir()
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction",
                    *[arg for file in PGLEDGER_FILES for arg in ("-f", str(folder / file))], url],
                   check=True, capture_output=True)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("CREATE TABLE bench_accounts (n int PRIMARY KEY, id text NOT NULL)")
        connection.execute("INSERT INTO bench_accounts SELECT g, (pgledger_create_account('bench ' || g, 'CO2')).id "
                           "FROM generate_series(1, %s) AS g", (accounts,))
        connection.execute("VACUUM ANALYZE")
    return url
