"""The console's blueprint: sign-in by session cookie, CSRF on every form, zh-CN/en text.

Texts are Flask-Babel msgids (`_()` here and in the templates); api.locales picks the
language the auditor chose at sign-in or with the switch, kept in the session."""
from functools import wraps

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError, CSRFProtect, generate_csrf

from accounting.errors import DomainError
from api.identity import limits
from api.identity.models import User
from api.identity.operations import authenticate
from api.messages import title_and_detail
from api.schemas_common import NOT_TEXT, SHANGHAI
from config.extensions import db, limiter

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates")
csrf = CSRFProtect()
CONSOLE_ROLES = ("auditor", "admin")
# The console runs no script at all and loads only its own origin; its pages are never framed
# (clickjacking an approval), and a download is never sniffed into something else.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'none'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
                               "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


@bp.after_request
def protect_the_page(response):
    response.headers.update(PAGE_HEADERS)
    return response


def init_console(app) -> None:
    # The JSON API authenticates with bearer tokens, not cookies, so only console forms need CSRF.
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    # Flask's defaults already hold these keys (HTTPONLY True, SAMESITE None, SECURE False),
    # so setdefault would change nothing: raise them unless settings chose stricter values.
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    if app.config.get("SESSION_COOKIE_SAMESITE") is None:
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_SECURE"] = bool(app.config.get("SESSION_COOKIE_SECURE")) or (
        app.config["APP_ENV"] == "production")
    csrf.init_app(app)
    app.register_blueprint(bp)


@bp.app_template_filter("local")
def local_time(moment) -> str:
    """A stored UTC time as Asia/Shanghai wall time."""
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if moment else "—"


@bp.app_template_filter("yuan")
def yuan(fen) -> str:
    """An amount in fen as yuan with two decimals and thousands separators (1234567 → 12,345.67)."""
    if fen is None:
        return "—"
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(int(fen)), 100)
    return f"{sign}{whole:,}.{cents:02d}"


@bp.app_template_filter("thousands")
def thousands(number) -> str:
    return "—" if number is None else f"{int(number):,}"


@bp.context_processor
def console_helpers():
    # The console's own templates only: reading the session elsewhere would make every page vary by
    # cookie (the public page is cached by anyone, for everyone).
    return {"csrf_token": generate_csrf, "lang": session.get("lang", "zh-CN")}


@bp.before_request
def protect_forms():
    if request.method == "POST":
        csrf.protect()


@bp.errorhandler(CSRFError)
def csrf_failed(error):
    flash(_("The form expired; please try again."), "error")
    return redirect(request.referrer or url_for("console.dashboard"))


def console_login_required(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        user_id = session.get("console_user")
        user = db.session.get(User, user_id) if user_id else None
        if user is None or user.role not in CONSOLE_ROLES:
            session.pop("console_user", None)
            return redirect(url_for("console.login", next=request.path))
        g.console_user = user
        return view(*args, **kwargs)
    return wrapper


def act(action, success, back: str):
    """Run an action for a form; on refusal roll back and show why, in the auditor's language.
    `success` is the message, or a function making it from what the action answered."""
    try:
        done = action()
    except DomainError as error:
        db.session.rollback()
        title, detail = title_and_detail(error.code, {k: v for k, v in error.params.items() if k != "errors"})
        flash(f"{title}: {detail}", "error")
        return redirect(back)
    flash(success(done) if callable(success) else success, "ok")
    return redirect(back)


def reason_from_form() -> str | None:
    reason = (request.form.get("reason") or "").strip()
    if not reason or len(reason) > 200 or NOT_TEXT.search(reason):
        flash(_("Give a reason (up to 200 characters)."), "error")
        return None
    return reason


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(limits.per_phone, key_func=limits.phone_in_body, methods=["POST"])
@limiter.limit(limits.per_address, methods=["POST"])
def login():
    if request.method == "POST":
        try:
            user, _account_id = authenticate(request.form.get("phone", "").strip(), request.form.get("password", ""))
        except DomainError:
            user = None
        if user is None or user.role not in CONSOLE_ROLES:
            db.session.rollback()
            flash(_("Wrong phone or password, or this account may not use the console."), "error")
            return render_template("console/login.html"), 401
        session.clear()
        session["console_user"], session["lang"] = user.id, request.form.get("lang", "zh-CN")
        target = request.args.get("next", "")
        return redirect(target if target.startswith("/console") else url_for("console.dashboard"))
    return render_template("console/login.html")


@bp.post("/logout")
def logout():
    session.clear()
    return redirect(url_for("console.login"))


@bp.get("/lang/<string:code>")
@console_login_required
def switch_language(code):
    session["lang"] = "en" if code == "en" else "zh-CN"
    return redirect(request.referrer or url_for("console.dashboard"))


from api.console import (  # noqa: E402,F401  (routes)
    pages_dashboard,
    pages_market,
    pages_queues,
    pages_registry,
    pages_trace,
)
