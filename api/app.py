"""The app factory: settings, extensions, blueprints, error handling, one commit per request."""
import os

from flask import Flask, request

from api import openapi
from api.after_commit import discard_after_commit, run_after_commit
from api.id_ranges import register_id_converters
from api.identity import refresh_cookie
from api.json_limits import refuse_unreasonable_json
from api.locales import init_translations
from api.problems import ProblemApi, problem_response, register_problem_handlers
from config.celery import celery_init_app
from config.connection_check import check_connections_on_checkout
from config.extensions import db, jwt, limiter, migrate, redis_store
from config.settings import INSTANCE_DIR, load_settings, with_database

SECURITY_SCHEMES = {
    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
    "sourceKey": {"type": "apiKey", "in": "header", "name": "X-Source-Key"},
    "sourceTimestamp": {"type": "apiKey", "in": "header", "name": "X-Timestamp",
                        "description": "Unix seconds; requests more than 5 minutes off are refused"},
    "sourceSignature": {"type": "apiKey", "in": "header", "name": "X-Signature",
                        "description": 'hex HMAC-SHA256(secret, timestamp + "." + raw body)'},
    "refreshCookie": {"type": "apiKey", "in": "cookie", "name": refresh_cookie.COOKIE_NAME,
                      "description": "The refresh token as an httpOnly cookie (sign in with X-Refresh-Cookie: 1); "
                                     "read by POST /api/v1/auth/refresh only, and only with that header"},
}


def create_app(environ: dict | None = None, **overrides) -> Flask:
    """Build the app from `environ` (default: the process environment) plus config overrides."""
    settings = load_settings(os.environ if environ is None else environ, **overrides)
    app = Flask("binzhou_carbon", instance_path=settings["INSTANCE_PATH"])
    app.config.update(with_database(settings))  # DATABASE_URL unset: the embedded PostgreSQL starts here
    app.json.ensure_ascii = False
    app.json.sort_keys = False

    _register_models()
    db.init_app(app)
    with app.app_context():
        check_connections_on_checkout(db.engine)
    migrate.init_app(app, db, directory=str(INSTANCE_DIR.parent / "migrations"))
    refresh_cookie.configure(app)
    jwt.init_app(app)
    limiter.init_app(app)
    redis_store.init_app(app)
    celery_init_app(app)
    init_translations(app)

    api = ProblemApi(app, spec_kwargs=openapi.spec_kwargs(app, securitySchemes=SECURITY_SCHEMES))
    openapi.declare_conventions(api)
    app.extensions["problem_api"] = api
    register_id_converters(app)
    _register_blueprints(app, api)
    register_problem_handlers(app)
    _refuse_nul_bytes(app)
    refuse_unreasonable_json(app)
    _commit_once_per_request(app)
    _register_cli(app)

    from api.log_masking import install_phone_masking
    install_phone_masking()
    return app


def _register_models() -> None:
    import accounting.issuance.models  # noqa: F401  (tables on the shared metadata)
    import accounting.ledger.models  # noqa: F401
    import accounting.market.models  # noqa: F401
    import accounting.quantification.models  # noqa: F401
    import accounting.record.models  # noqa: F401
    import api.idempotency  # noqa: F401
    import api.identity.models  # noqa: F401
    import api.identity.tokens  # noqa: F401  (JWT callbacks)
    import merchants.models  # noqa: F401


def _register_blueprints(app: Flask, api: ProblemApi) -> None:
    from api import docs_assets, health, public, resident_app, scanner
    from api.bureau.methodologies import blp as methodologies_blp
    from api.bureau.quantification import blp as bureau_blp
    from api.console.blueprint import init_console
    from api.events_schemas import IngestEventSchema
    from api.identity.resources import blp as auth_blp
    from api.ingest.resources import blp as ingest_blp
    from api.market import blp as market_blp
    from api.merchants.residents import blp as coupons_blp
    from api.merchants.staff import blp as merchants_blp
    from api.privacy.resources import blp as privacy_blp
    from api.registry.bureau import blp as registry_blp
    from api.registry.holders import blp as holders_blp
    from api.resident.resources import blp as resident_blp

    for blueprint in (auth_blp, resident_blp, ingest_blp, methodologies_blp, bureau_blp, registry_blp,
                      holders_blp, merchants_blp, coupons_blp, market_blp, privacy_blp):
        api.register_blueprint(blueprint)
    api.spec.components.schema("IngestEvent", schema=IngestEventSchema)
    app.register_blueprint(health.blp)
    init_console(app)
    app.register_blueprint(docs_assets.blp)
    app.register_blueprint(scanner.blp)
    app.register_blueprint(resident_app.blp)
    app.register_blueprint(public.blp)


def _refuse_nul_bytes(app: Flask) -> None:
    """A NUL in the path or a header is bad input (PostgreSQL text cannot hold one): 400, not 500."""

    @app.before_request
    def refuse_nul_bytes():
        if "\x00" in request.path or any("\x00" in value for value in request.headers.values()):
            return problem_response("bad_request", status=400)


def _commit_once_per_request(app: Flask) -> None:
    """Services only flush; the request commits once here, or rolls back on any error."""

    @app.after_request
    def commit_or_roll_back(response):
        if response.status_code < 400:
            db.session.commit()
            run_after_commit()
        else:
            db.session.rollback()
            discard_after_commit()
        return response


def _register_cli(app: Flask) -> None:
    from api.cli import (
        demo_cli,
        issuance_cli,
        methodologies_cli,
        quantify_cli,
        registry_cli,
        sources_cli,
        users_cli,
    )
    from api.events_cli import events_cli

    for group in (events_cli, users_cli, sources_cli, methodologies_cli, quantify_cli, issuance_cli, registry_cli, demo_cli):
        app.cli.add_command(group)
