"""The cashier's scanner page: sign in as merchant staff, read a coupon's QR, verify, redeem.

A static page (no build step) that talks to the JSON API with a bearer token; the QR decoder
is jsQR, vendored under api/static/scanner/vendor/ (see its README there).

The page's own labels stand in Chinese and English side by side (the cashier chooses nothing),
so they stay in the static page; everything the API answers it (problem titles and details, a
coupon's reason_text) comes from the Flask-Babel catalogue in Chinese, which it asks for with
Accept-Language: zh-CN.
"""
from pathlib import Path

from flask import Blueprint, send_from_directory

STATIC = Path(__file__).parent / "static" / "scanner"

blp = Blueprint("scanner", __name__, static_folder=str(STATIC), static_url_path="/scanner/assets")

# Only our own files; the camera for this origin; the page in no one else's frame.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
                               "object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    "Permissions-Policy": "camera=(self)",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


@blp.get("/scanner")
def page():
    response = send_from_directory(STATIC, "index.html", mimetype="text/html")
    response.headers.update(PAGE_HEADERS)
    return response
