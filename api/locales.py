"""Which language a response speaks, and the Flask-Babel wiring that translates it.

The API follows Accept-Language (Chinese unless the client prefers English); the console follows
the language its auditor chose, kept in the session. Outside (Content-Language, the session) the
languages are the tags zh-CN and en; inside they are Babel locales.
"""
from pathlib import Path

from flask import has_request_context, request, session
from flask_babel import get_locale, refresh

from config.extensions import babel

DEFAULT_LANGUAGE = "zh-CN"
# The Chinese catalogue lives in zh_Hans_CN/, not zh_CN/: Flask-Babel passes the selector's answer
# through babel.Locale.parse, which adds the likely script (zh_CN becomes zh_Hans_CN), and gettext
# then looks for zh_Hans_CN/ and zh/ only. Naming the folder as Babel names the locale avoids that.
BABEL_LOCALES = {"zh-CN": "zh_Hans_CN", "en": "en"}
TRANSLATIONS = Path(__file__).parent / "translations"
CATALOGUE_DOMAIN = "messages"


def requested_language() -> str:
    """zh-CN or en: the auditor's choice on console pages, ?lang= on the public page (a link anyone can
    share), Accept-Language everywhere else."""
    if not has_request_context():
        return DEFAULT_LANGUAGE
    if request.blueprint == "console":
        return "en" if session.get("lang") == "en" else DEFAULT_LANGUAGE
    if request.blueprint == "public" and request.args.get("lang") in ("en", "zh"):
        return "en" if request.args["lang"] == "en" else DEFAULT_LANGUAGE
    best = request.accept_languages.best_match(["zh-CN", "zh", "en"], default=DEFAULT_LANGUAGE)
    return "en" if best == "en" else DEFAULT_LANGUAGE


def language() -> str:
    """The tag of the language being spoken now (Content-Language), a forced locale included."""
    locale = get_locale()
    return "en" if locale is not None and locale.language == "en" else DEFAULT_LANGUAGE


def init_translations(app) -> None:
    _require_compiled_catalogues()
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    babel.init_app(app, default_locale=BABEL_LOCALES[DEFAULT_LANGUAGE],
                   locale_selector=lambda: BABEL_LOCALES[requested_language()])
    # Flask-Babel keeps the chosen locale in `g`, which lives as long as the app context; a request
    # served inside an app context pushed already (tests, a CLI command) must choose afresh.
    app.before_request(refresh)


def _require_compiled_catalogues() -> None:
    """Without its .mo, a catalogue is silently English: refuse to start instead."""
    for po in TRANSLATIONS.glob(f"*/LC_MESSAGES/{CATALOGUE_DOMAIN}.po"):
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            raise RuntimeError(f"{mo} is missing or older than its .po; compile the catalogues with "
                               "platform/setup.sh (or: .venv/bin/pybabel compile -d api/translations)")
