"""The resident app (H5) at /app: the committed build of resident-app/ (README, "The resident app"),
served as static files. It is a pure client of /api/v1 and needs nothing else from the server.

Its service worker lives at /app/sw.js and is allowed the scope /app (Service-Worker-Allowed), so
both /app and /app/… open offline. Hashed assets are cached for good; the page, the worker and
the manifest are revalidated on every load, so a new build reaches phones at once.
"""
from pathlib import Path

from flask import Blueprint, send_from_directory

BUILD = Path(__file__).parent / "static" / "app"

blp = Blueprint("resident_app", __name__)

# Only our own files, no inline script or style (the build emits none); images the app draws from
# API answers are blob: URLs; never framed (a claim or a transfer tapped through a decoy), never
# sniffed; no camera, microphone or location asked for; the screen may be kept awake for the QR.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
                               "connect-src 'self'; worker-src 'self'; manifest-src 'self'; object-src 'none'; "
                               "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), screen-wake-lock=(self)",
}
REVALIDATE = "no-cache"
FOREVER = "public, max-age=31536000, immutable"  # the file's name changes with its content


def _send(folder: Path, name: str, cache: str, mimetype: str | None = None):
    response = send_from_directory(folder, name, mimetype=mimetype, max_age=None)
    response.headers["Cache-Control"] = cache
    return response


@blp.after_request
def protect(response):
    response.headers.update(PAGE_HEADERS)
    return response


@blp.get("/app")
@blp.get("/app/")
def page():
    return _send(BUILD, "index.html", REVALIDATE, "text/html")


@blp.get("/app/sw.js")
def service_worker():
    response = _send(BUILD, "sw.js", REVALIDATE, "text/javascript")
    response.headers["Service-Worker-Allowed"] = "/app"
    return response


@blp.get("/app/manifest.webmanifest")
def manifest():
    return _send(BUILD, "manifest.webmanifest", REVALIDATE, "application/manifest+json")


@blp.get("/app/assets/<path:name>")
def asset(name):
    return _send(BUILD / "assets", name, FOREVER)


@blp.get("/app/icons/<path:name>")
def icon(name):
    return _send(BUILD / "icons", name, REVALIDATE)
