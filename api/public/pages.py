"""/public: totals, coupons, the market, the pool, the audit chain's head, the last verifications and
every retirement, for anyone, no sign-in; zh by default, English with ?lang=en or Accept-Language.

The page runs no script (charts are SVG drawn here) and loads nothing but its own stylesheet. Its
figures come from accounting.reports.public_totals through api.public.cache, so a crowd costs the
database at most one computation per PUBLIC_PAGE_CACHE_SECONDS; browsers and proxies may keep the
page that long too (Cache-Control), and revalidate it with its ETag (304 without a body)."""
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from flask import Blueprint, Response, abort, current_app, render_template, request

from accounting.business_day import SHANGHAI
from accounting.reports import public_totals
from api.locales import requested_language
from api.public import cache, charts
from api.public.tables import TABLES, table_csv
from config.extensions import db

blp = Blueprint("public", __name__, template_folder="templates", static_folder="static",
                static_url_path="/public/static")

PAGE_SIZE = 50  # retirements per page
LAST_PAGE = 10**6  # beyond any registry; a larger number is not a page (404)
RENDER_VERSION = "1"  # part of every ETag: a new template is a new page even for the same figures
# Nothing but this page's own stylesheet and inline SVG; no script, no form, never framed.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; "
                               "form-action 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@blp.after_request
def protect(response):
    response.headers.update(PAGE_HEADERS)
    return response


def _figures() -> cache.Cached:
    directory = current_app.config["AUDIT_CHECKPOINT_DIR"]
    return cache.cached("figures", lambda: public_totals.figures(db.session, directory))


def _conditional(tag: str, build) -> Response:
    """304 when the client holds this version (no rendering at all), else build() with its ETag;
    cacheable by anyone for the period the figures are kept."""
    if request.if_none_match.contains(tag):
        response = Response(status=304)
    else:
        response = build()
    response.set_etag(tag)
    response.headers["Cache-Control"] = f"public, max-age={current_app.config['PUBLIC_PAGE_CACHE_SECONDS']}"
    response.vary.add("Accept-Language")
    return response


@blp.get("/public")
def page():
    number = request.args.get("page", 1, type=int)
    if not 1 <= number <= LAST_PAGE:
        abort(404)
    figures = _figures()
    retirements = cache.cached(f"retirements:{number}", lambda: public_totals.retirements(
        db.session, PAGE_SIZE, (number - 1) * PAGE_SIZE))
    lang = requested_language()
    tag = f"{figures.digest}-{retirements.digest}-{lang}-{RENDER_VERSION}"
    return _conditional(tag, lambda: Response(cache.rendered(
        tag, lambda: _render(figures.value, retirements.value, number, lang)), mimetype="text/html"))


def _render(figures: dict, retirements: dict, number: int, lang: str) -> str:
    pages = max(1, -(-retirements["total"] // PAGE_SIZE))
    flows = figures["flows"]
    return render_template(
        "public/page.html", figures=figures, flows=flows, retirements=retirements, page=number, pages=pages,
        lang=lang, other_lang="zh" if lang == "en" else "en",
        flow_chart=charts.grouped_bars(flows["by_month"], ["issued_g", "retired_g", "redeemed_g", "donated_g"]),
        market_chart=charts.volume_and_vwap(figures["market"]),
        verification=figures["verifications"][0] if figures["verifications"] else None,
        cache_seconds=current_app.config["PUBLIC_PAGE_CACHE_SECONDS"])


@blp.get("/public/<string:name>.csv")
def table(name):
    if name not in TABLES:
        abort(404)
    if name == "retirements":
        every = cache.cached("csv:retirements", lambda: table_csv(name, None, public_totals.retirements(db.session)))
        return _conditional(f"{every.digest}-csv", lambda: _download(name, every.value))
    figures = _figures()
    tag = f"{figures.digest}-{name}-csv"
    return _conditional(tag, lambda: _download(name, cache.rendered(tag, lambda: table_csv(name, figures.value, None))))


def _download(name: str, text: str) -> Response:
    return Response(text, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="binzhou-public-{name}.csv"'})


@blp.app_template_filter("mass")
def mass(grams) -> str:
    """Grams as kg (below a tonne) or t, three decimals (468 → 0.468 kg; 1,234,567 → 1.235 t)."""
    if grams is None:
        return "—"
    unit, divisor = ("t", Decimal(1_000_000)) if abs(grams) >= 1_000_000 else ("kg", Decimal(1000))
    return f"{(Decimal(grams) / divisor).quantize(Decimal('0.001'), ROUND_HALF_UP):,} {unit}"


@blp.app_template_filter("shanghai")
def shanghai(iso_time) -> str:
    """An ISO time (as cached) in Asia/Shanghai wall time."""
    return datetime.fromisoformat(iso_time).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if iso_time else "—"
