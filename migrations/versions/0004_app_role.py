"""app role: the app connects as a role that may only do what the app does

Migrations run as the tables' owner (MIGRATION_DATABASE_URL); the web process, the worker and beat
connect as APP_DB_ROLE (default binzhou_app), created here if missing. It owns nothing, so it can
neither ALTER a table (and switch a guard's trigger off), nor TRUNCATE or DROP one; on the journal,
its entries and the blocks' movements it may only INSERT (and read); on the audit log it may append
and seal, never rewrite; it deletes only from the few tables it prunes. Tables later migrations add
get the same default privileges (and their own restrictions, said in those migrations).

In production, give the role a password (`ALTER ROLE binzhou_app PASSWORD '…'`) and put it in
DATABASE_URL; the migration role keeps the owner's URL.

Revision ID: 0004_app_role
Revises: 0003_seen_signatures
Create Date: 2026-12-01 22:00:00

"""
from alembic import op
from flask import current_app

revision = '0004_app_role'
down_revision = '0003_seen_signatures'
branch_labels = None
depends_on = None

APPEND_ONLY = ("journal_transactions", "journal_entries", "block_movements", "batch_lines", "retirements")
NEVER_UPDATED = ("seen_signatures", "revoked_tokens", "idempotency_records")
PRUNED = ("seen_signatures", "revoked_tokens", "idempotency_records")
SEAL_COLUMNS = "seq, prev_hash, hash, sealed_at"


def _role() -> str:
    role = current_app.config.get("APP_DB_ROLE", "binzhou_app")
    if not role.replace("_", "").isalnum():
        raise ValueError(f"APP_DB_ROLE must be a plain identifier, not {role!r}")
    return role


def upgrade():
    role = _role()
    op.execute(f"""DO $$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
            CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
        END IF;
    END $$""")
    op.execute(f"DO $$ BEGIN EXECUTE format('GRANT CONNECT ON DATABASE %I TO {role}', current_database()); END $$")
    op.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO {role}")
    op.execute(f"REVOKE UPDATE ON {', '.join(APPEND_ONLY + NEVER_UPDATED)} FROM {role}")
    op.execute(f"REVOKE UPDATE ON audit_records FROM {role}")
    op.execute(f"GRANT UPDATE ({SEAL_COLUMNS}) ON audit_records TO {role}")
    op.execute(f"GRANT DELETE ON {', '.join(PRUNED)} TO {role}")
    op.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}")
    # What later migrations create, as the same owner, the role may read and write; what it may not
    # do to those tables (delete, rewrite) those migrations revoke.
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE ON TABLES TO {role}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {role}")


def downgrade():
    role = _role()
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT, INSERT, UPDATE ON TABLES FROM {role}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE USAGE, SELECT ON SEQUENCES FROM {role}")
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}")
    op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {role}")
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {role}")
    op.execute(f"DO $$ BEGIN EXECUTE format('REVOKE CONNECT ON DATABASE %I FROM {role}', current_database()); END $$")
