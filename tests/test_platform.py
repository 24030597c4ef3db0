"""Operating the platform: migrations, health, the OpenAPI document, settings, the account QR,
phone masking in logs (DOMAIN.md §4), and the embedded mode (PostgreSQL from a wheel, no Redis)."""
import io
import json
import logging

import psutil
import pytest
import sqlalchemy as sa
import zxingcpp
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from PIL import Image

from accounting.quantification.models import TALLY_PARTITION_NAME
from accounting.record.models import EVENT_PARTITION_NAME
from api import create_app
from api.log_masking import PhoneMaskingFilter, mask_phones
from config import embedded_postgres
from config.extensions import db
from config.settings import ConfigurationError, load_settings
from tests.conftest import TEST_SETTINGS, build_app
from tests.support import RESIDENT_PASSWORD, ApiClient, SourceClient

PROBLEM = "application/problem+json"


def schema_drift() -> list:
    """What autogenerate would still write: the models against the migrated database."""
    with db.engine.connect() as connection:
        # green_events' and daily_tallies' monthly partitions belong to the one table the models declare.
        context = MigrationContext.configure(connection, opts={
            "compare_type": True, "include_name": lambda name, type_, _: not (
                type_ == "table" and any(p.match(name) for p in (EVENT_PARTITION_NAME, TALLY_PARTITION_NAME)))})
        return compare_metadata(context, db.metadata)


def table_names() -> set[str]:
    with db.engine.connect() as connection:
        return set(sa.inspect(connection).get_table_names())


def app_source_count() -> int:
    # Its own short connection: a session left open would hold a lock the downgrade waits on.
    with db.engine.connect() as connection:
        return connection.scalar(sa.text("SELECT count(*) FROM data_sources WHERE code = 'APP'"))


def check_migrations_round_trip(app):
    with app.app_context():
        assert schema_drift() == []
        assert app_source_count() == 1
        downgrade(revision="base")
        assert table_names() <= {"alembic_version"}
        upgrade()
        assert schema_drift() == []
        assert app_source_count() == 1
        db.session.remove()
        db.engine.dispose()


# --- migrations ----------------------------------------------------------------------------------

def test_postgres_migrations_match_the_models_and_go_down_and_up(fresh_postgres, restore_shared_extensions):
    check_migrations_round_trip(build_app(fresh_postgres, None))


# --- health and documentation --------------------------------------------------------------------

def test_health_and_readiness(api):
    health = api.http.get("/healthz")
    assert health.status_code == 200 and health.get_json() == {"status": "ok"}
    ready = api.http.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json() == {"status": "ready", "checks": {"database": "ok", "redis": "ok"}}


def test_openapi_document_lists_the_contract(api):
    response = api.http.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"].startswith("3.")
    for path in ("/api/v1/auth/register", "/api/v1/auth/login", "/api/v1/auth/refresh", "/api/v1/auth/logout",
                 "/api/v1/ingest/events", "/api/v1/me", "/api/v1/me/trips", "/api/v1/me/events",
                 "/api/v1/me/account-code.png"):
        assert path in spec["paths"], path
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearerAuth"]["scheme"] == "bearer"
    assert schemes["sourceSignature"]["name"] == "X-Signature"
    assert "IngestEvent" in spec["components"]["schemas"]


def test_swagger_ui_and_its_assets_are_served_locally(api):
    page = api.http.get("/api/v1/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "/api/v1/docs/assets/swagger-ui-bundle.js" in html and "/api/v1/openapi.json" in html
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-standalone-preset.js"):
        served = api.http.get(f"/api/v1/docs/assets/{asset}")
        assert served.status_code == 200, asset
        assert len(served.get_data()) > 1000
        served.close()


# --- settings --------------------------------------------------------------------------------------

REAL = {"APP_ENV": "production", "SECRET_KEY": "s3cret-" + "x" * 40, "JWT_SECRET_KEY": "jwt-" + "y" * 40,
        "DATABASE_URL": "postgresql://carbon:pw@db.internal:5432/carbon", "REDIS_URL": "redis://cache:6379/0"}


def test_production_refuses_defaults_and_the_embedded_database(tmp_path):
    embedded = {"APP_ENV": "production", "INSTANCE_PATH": str(tmp_path)}
    with pytest.raises(ConfigurationError) as refused:
        load_settings(embedded)
    for complaint in ("SECRET_KEY", "JWT_SECRET_KEY", "DATABASE_URL is unset", "REDIS_URL"):
        assert complaint in str(refused.value)
    for missing in ("SECRET_KEY", "JWT_SECRET_KEY", "DATABASE_URL", "REDIS_URL"):
        with pytest.raises(ConfigurationError, match=missing):
            load_settings({k: v for k, v in REAL.items() if k != missing} | {"INSTANCE_PATH": str(tmp_path)})
    with pytest.raises(ConfigurationError):
        create_app(embedded)
    assert list(tmp_path.iterdir()) == []  # refused before any server started


@pytest.mark.parametrize("app_env", ["development", "production"])
def test_only_postgresql_database_urls_are_taken(app_env):
    for url in ("sqlite:////srv/carbon.db", "mysql://carbon:pw@db/carbon", "postgresql+asyncpg://carbon:pw@db/carbon"):
        with pytest.raises(ConfigurationError, match="PostgreSQL URL") as refused:
            load_settings(REAL | {"APP_ENV": app_env, "DATABASE_URL": url})
        assert "pw" not in str(refused.value)  # the URL's password is never echoed


def test_an_app_given_a_database_url_starts_no_embedded_server(postgres_database, tmp_path,
                                                                restore_shared_extensions):
    app = create_app(TEST_SETTINGS | {"DATABASE_URL": postgres_database, "INSTANCE_PATH": str(tmp_path)})
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://" + postgres_database.split("://", 1)[1]
    assert app.instance_path == str(tmp_path) and list(tmp_path.iterdir()) == []


def test_production_runs_with_real_secrets_postgres_and_redis():
    settings = load_settings(REAL)
    assert settings["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://carbon:pw@db.internal:5432/carbon"
    assert settings["REDIS_URL"] == "redis://cache:6379/0"
    assert settings["CELERY"]["task_always_eager"] is False
    legacy = load_settings(REAL | {"DATABASE_URL": "postgres://carbon@db/carbon"})
    assert legacy["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://carbon@db/carbon"


# --- the account QR --------------------------------------------------------------------------------

def test_account_code_png_decodes_to_the_account_number(api, resident):
    response = api.http.get("/api/v1/me/account-code.png", headers=resident.auth())
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert "no-store" in response.headers["Cache-Control"]
    codes = zxingcpp.read_barcodes(Image.open(io.BytesIO(response.get_data())))
    assert [(code.format, code.text) for code in codes] == [(zxingcpp.BarcodeFormat.QRCode, resident.account_number)]
    unsigned = api.http.get("/api/v1/me/account-code.png")
    assert unsigned.status_code == 401 and unsigned.mimetype == PROBLEM


# --- phone numbers in logs (PIPL) ----------------------------------------------------------------

def test_mask_phones():
    cases = {
        "13812345678": "138****5678",
        "call 13812345678 now": "call 138****5678 now",
        "13812345678,19987654321": "138****5678,199****4321",
        "tel:+8613812345678": "tel:+86138****5678",
        "{'phone_1': '15500001111'}": "{'phone_1': '155****1111'}",
        "order 913812345678": "order 913812345678",    # part of a longer number: not a phone
        "138123456789": "138123456789",
        "12812345678": "12812345678",                  # no mobile prefix 12x
        "account BZ1381234567": "account BZ1381234567",
        "": "",
    }
    for text, expected in cases.items():
        assert mask_phones(text) == expected, text


def test_masking_filter_covers_messages_arguments_and_tracebacks():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(PhoneMaskingFilter())
    log = logging.getLogger("api.test.filter")
    log.addHandler(handler)
    log.propagate, log.level = False, logging.INFO
    try:
        log.info("resident %s signed in", "13812345678")
        log.info("sms sent to 13987654321")
        try:
            raise RuntimeError("lookup failed for phone 15500001111")
        except RuntimeError:
            log.exception("unhandled error")
    finally:
        log.removeHandler(handler)
    output = stream.getvalue()
    for phone, shown in (("13812345678", "138****5678"), ("13987654321", "139****4321"),
                         ("15500001111", "155****1111")):
        assert phone not in output and shown in output
    assert "Traceback" in output and "RuntimeError" in output


def test_the_app_masks_phones_in_the_process_logs(postgres_database, caplog, restore_shared_extensions):
    stream = io.StringIO()
    process_handler = logging.StreamHandler(stream)  # e.g. gunicorn's, there before the app
    process_handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(process_handler)
    caplog.set_level(logging.INFO)
    try:
        create_app(TEST_SETTINGS | {"DATABASE_URL": postgres_database})
        # The app put its filter on the handler itself, not merely on some handler before it...
        assert any(isinstance(f, PhoneMaskingFilter) for f in process_handler.filters)
        logging.getLogger("api.test").info("resident %s signed in", "13812345678")
        logging.getLogger("api.test").warning("login from 18600001234 refused")
    finally:
        root.removeHandler(process_handler)
    # ...so a record this handler alone receives is masked too.
    process_handler.handle(logging.makeLogRecord(
        {"name": "api.test", "levelno": logging.INFO, "levelname": "INFO", "msg": "sms to %s", "args": ("17712345678",)}
    ))
    for output in (stream.getvalue(), caplog.text):
        assert "138****5678" in output and "186****1234" in output
        assert "13812345678" not in output and "18600001234" not in output
    assert "177****5678" in stream.getvalue() and "17712345678" not in stream.getvalue()


# --- embedded mode ---------------------------------------------------------------------------------

def stop_embedded(app, pgdata) -> None:
    """Close the app's connections, stop its server and wait (bounded) until the postmaster is gone."""
    postmaster = int((pgdata / "postmaster.pid").read_text().split()[0])
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    embedded_postgres.stop(pgdata)
    try:
        psutil.Process(postmaster).wait(timeout=10)
    except psutil.NoSuchProcess:
        pass


def test_embedded_mode_runs_postgresql_from_the_wheel_without_redis(tmp_path, restore_shared_extensions):
    pgdata = tmp_path / "postgres"
    environ = TEST_SETTINGS | {"INSTANCE_PATH": str(tmp_path)}  # neither DATABASE_URL nor REDIS_URL
    app = create_app(environ)
    try:
        with app.app_context():
            upgrade()
            assert db.session.scalar(sa.text("SHOW server_version")).startswith("18.")
            assert db.session.scalar(sa.text("SELECT current_database()")) == "binzhou"
            assert schema_drift() == []
            db.session.remove()
        assert (pgdata / "PG_VERSION").exists()
        assert app.extensions["redis"] is None
        ready = app.test_client().get("/readyz").get_json()
        assert ready == {"status": "ready", "checks": {"database": "ok", "redis": "not configured (embedded mode)"}}

        api = ApiClient(app)
        resident = api.register(display_name="嵌入式")
        trip = api.trip(resident, mode="bike", distance_m=3000)
        assert trip.status_code == 202 and trip.get_json()["status"] == "received"

        source = SourceClient.filed(app, "BZBIKE", "bikeshare")
        assert api.http.put("/api/v1/me/sources/BZBIKE", headers=resident.auth()).status_code == 200
        body = json.dumps({"events": [source.trip_event(resident.account_number, "bike-1", mode="bike")]}).encode()
        headers = source.signed_headers(body)
        accepted = source.http.post("/api/v1/ingest/events", data=body, headers=headers)
        assert accepted.status_code == 200
        assert accepted.get_json() == {"accepted": 1, "duplicates": 0, "rejected": []}
        # The very same signed request again is a replay: the in-memory guard refuses it.
        replayed = source.http.post("/api/v1/ingest/events", data=body, headers=headers)
        assert replayed.status_code == 401 and replayed.mimetype == PROBLEM
        assert replayed.get_json(force=True)["code"] == "replayed_request"

        # Quantified in-process, right after each commit.
        events = api.http.get("/api/v1/me/events", headers=resident.auth()).get_json()["items"]
        assert sorted((e["source"], e["mode"], e["status"]) for e in events) == [
            ("APP", "bike", "quantified"), ("BZBIKE", "bike", "quantified")]
    finally:
        stop_embedded(app, pgdata)
    assert not (pgdata / "postmaster.pid").exists()

    # Started again, the server finds the data of the first run.
    again = create_app(environ)
    try:
        signed_in = again.test_client().post("/api/v1/auth/login",
                                             json={"phone": resident.phone, "password": RESIDENT_PASSWORD})
        assert signed_in.status_code == 200
    finally:
        stop_embedded(again, pgdata)
