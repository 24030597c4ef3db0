"""Flask CLI: staff users, data sources, methodologies, quantification, issuance, registry, demo data."""
import json

import click
from flask import current_app
from flask.cli import AppGroup
from flask_babel import force_locale

from accounting.errors import DomainError
from accounting.issuance.tasks import run_issuance_day
from accounting.ledger.tasks import seal_audit_log
from accounting.ledger.verify import verify_and_record
from accounting.market.enterprises import enterprise
from accounting.quantification.methodologies import seed_default_methodologies
from accounting.quantification.tasks import quantify_received
from accounting.record import sources as source_service
from accounting.record.models import SOURCE_KINDS
from api.demo import seed_demo
from api.identity.models import ROLES, mask_phone
from api.identity.operations import create_staff_user
from api.messages import title_and_detail
from config.extensions import db
from merchants.applications import merchant

users_cli = AppGroup("users", help="Staff users.")
methodologies_cli = AppGroup("methodologies", help="Methodologies (备案).")
quantify_cli = AppGroup("quantify", help="Quantification (核算).")
issuance_cli = AppGroup("issuance", help="Issuance (签发).")
registry_cli = AppGroup("registry", help="The registry (登记, 管理).")
sources_cli = AppGroup("sources", help="Data sources (备案) and their stations.")
demo_cli = AppGroup("demo", help="Demo data for a first look.")


def _fail(error: DomainError):
    with force_locale("en"):  # operators read the CLI in English
        _, detail = title_and_detail(error.code, error.params)
    raise click.ClickException(f"{error.code}: {detail}")


@users_cli.command("create")
@click.option("--role", required=True, type=click.Choice([r for r in ROLES if r != "resident"]))
@click.option("--phone", required=True)
@click.option("--password", required=True)
@click.option("--name", "display_name", default=None, help="Display name (defaults to the role).")
@click.option("--merchant", "merchant_id", type=int, default=None, help="The merchant a merchant_staff user works for.")
@click.option("--enterprise", "enterprise_id", type=int, default=None,
              help="The enterprise an enterprise_staff user works for (the first applies without one).")
def create_user(role, phone, password, display_name, merchant_id, enterprise_id):
    """Create a staff user who signs in like everyone else."""
    if merchant_id is not None and role != "merchant_staff":
        raise click.BadParameter("only merchant_staff users belong to a merchant", param_hint="--merchant")
    if enterprise_id is not None and role != "enterprise_staff":
        raise click.BadParameter("only enterprise_staff users belong to an enterprise", param_hint="--enterprise")
    try:
        if merchant_id is not None:
            merchant(merchant_id)
        if enterprise_id is not None:
            enterprise(enterprise_id)
        user = create_staff_user(role, phone, password, display_name)
        user.merchant_id, user.enterprise_id = merchant_id, enterprise_id
    except DomainError as error:
        _fail(error)
    db.session.commit()
    click.echo(f"created {role} user {user.id} ({mask_phone(phone)})")


@sources_cli.command("create")
@click.option("--code", required=True)
@click.option("--kind", required=True, type=click.Choice(SOURCE_KINDS))
@click.option("--name", default=None)
@click.option("--trust-level", default=1, type=click.IntRange(0, 3))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with code, key and secret.")
def create_source(code, kind, name, trust_level, as_json):
    """File a data source; its key and secret are printed this once and never again."""
    try:
        source, key, secret = source_service.file_source(
            code, kind, name, current_app.config["SECRET_KEY"], trust_level
        )
    except DomainError as error:
        _fail(error)
    db.session.commit()
    if as_json:
        click.echo(json.dumps({"code": source.code, "key": key, "secret": secret}))
    else:
        click.echo(f"filed source {source.code} ({kind})\nkey:    {key}\nsecret: {secret}\n"
                   "Store the secret now: it is not shown again.")


@sources_cli.command("add-station")
@click.option("--source", "source_code", required=True)
@click.option("--code", required=True)
@click.option("--name", required=True)
@click.option("--district", default=None)
def add_station(source_code, code, name, district):
    """File a recycling station under a source."""
    try:
        source_service.file_station(source_code, code, name, district)
    except DomainError as error:
        _fail(error)
    db.session.commit()
    click.echo(f"filed station {code} under {source_code}")


@demo_cli.command("seed")
def seed():
    """Demo residents, sources, a merchant with a campaign, and a week of issued green actions (runs once)."""
    summary = seed_demo()
    if summary is None:
        click.echo("demo data already present")
        return
    click.echo(summary)


@methodologies_cli.command("seed")
def seed_methodologies():
    """File and approve Binzhou's default methodologies where missing (the migration does too)."""
    added = seed_default_methodologies(db.session.connection())
    db.session.commit()
    click.echo(f"{added} default methodology versions added" if added else "default methodologies present")


@quantify_cli.command("run")
def run_quantification():
    """Quantify every received event now, in this process (the worker's code path)."""
    click.echo(f"{quantify_received()} events quantified")


@issuance_cli.command("run")
@click.option("--date", "day", required=True, type=click.DateTime(formats=["%Y-%m-%d"]),
              help="The Asia/Shanghai day to issue.")
def run_issuance(day):
    """Propose and issue a day's batches (as the daily beat task does); safe to run again."""
    result = run_issuance_day(day.date())
    sealed = seal_audit_log()
    click.echo(f"{result['day']}: proposed {len(result['proposed'])} batch(es), issued {len(result['issued'])}; "
               f"{sealed} audit records sealed")
    waiting = [b for b in result["proposed"] if b not in result["issued"]]
    if waiting:
        click.echo(f"waiting for an auditor's approval: batches {waiting}")


@registry_cli.command("verify")
@click.option("--json", "as_json", is_flag=True)
def verify(as_json):
    """Check the registry's invariants; exit status 0 only when every one holds. The run is recorded."""
    seal_audit_log()
    report, _run = verify_and_record("cli")
    db.session.commit()
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        for check in report:
            click.echo(f"{'ok    ' if check['ok'] else 'FAILED'} {check['invariant']}"
                       + ("" if check["ok"] else f" ({check['violations']}: {'; '.join(check['examples'][:5])})"))
    if not all(check["ok"] for check in report):
        raise SystemExit(1)


@registry_cli.command("seal")
def seal():
    """Chain every unsealed audit record now."""
    click.echo(f"{seal_audit_log()} audit records sealed")
