"""`flask events …`: green events' months (partitions ahead, archive to a file, restore).

Creating months ahead goes through the owner's function, which the app's role may call. Archiving
and restoring detach, drop and attach partitions: they connect as the tables' owner
(MIGRATION_DATABASE_URL, as `flask db upgrade` does), never as the app's role.
"""
from pathlib import Path

import click
import psycopg
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy.engine import make_url

from accounting.quantification.partitions import ensure_tally_partitions
from accounting.record import archive
from config.extensions import db

events_cli = AppGroup("events", help="Green events: monthly partitions, archive and restore.")


def _owner_connection() -> psycopg.Connection:
    url = current_app.config.get("MIGRATION_DATABASE_URI") or current_app.config["SQLALCHEMY_DATABASE_URI"]
    libpq = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    # An archive of a big month takes as long as it takes; the app's timeouts are not for it.
    return psycopg.connect(libpq, options="-c statement_timeout=0 -c lock_timeout=60000")


def _directory() -> Path:
    return Path(current_app.config["EVENTS_ARCHIVE_DIR"])


@events_cli.command("partitions")
@click.option("--ahead", default=None, type=click.IntRange(0, 120),
              help="Months after this one (Asia/Shanghai) to create; default EVENT_PARTITIONS_AHEAD.")
def partitions(ahead):
    """Create the coming months' partitions of the events and of their daily tallies (and any month
    a DEFAULT partition caught rows of)."""
    months = current_app.config["EVENT_PARTITIONS_AHEAD"] if ahead is None else ahead
    created = archive.ensure_partitions(db.session, months) + ensure_tally_partitions(db.session, months)
    db.session.commit()
    click.echo(f"created {', '.join(created)}" if created else "every month is there already")


@events_cli.command("archive")
@click.option("--before", "before", required=True, help="YYYY-MM: archive every month before this one.")
def archive_months(before):
    """Write each settled month before YYYY-MM to a .csv.gz with its sha256, then detach and drop it."""
    with _owner_connection() as connection:
        try:
            done = archive.archive_before(connection, archive.month_of(before), _directory())
        except archive.ArchiveRefused as refused:
            connection.rollback()
            raise click.ClickException(str(refused)) from None
    for month in done:
        click.echo(f"{archive.month_label(month.month)}: {month.rows} events → {month.file} "
                   f"(sha256 {month.file_sha256})")
    if not done:
        click.echo(f"no month before {before} to archive")


@events_cli.command("restore")
@click.argument("month")
def restore_month(month):
    """Bring an archived month back from its file (checked against its sha256 and row count)."""
    with _owner_connection() as connection:
        try:
            restored = archive.restore(connection, archive.month_of(month), _directory())
        except archive.ArchiveRefused as refused:
            connection.rollback()
            raise click.ClickException(str(refused)) from None
    click.echo(f"{month}: {restored.rows} events restored from {restored.file}")
