"""The resident app's files as the server sends them (api/resident_app.py): the page's security
headers, a service worker allowed to control all of /app, an installable manifest, assets cached
for good, and a committed build that is the build of the sources as they stand."""
import hashlib
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "resident-app"
BUILD = ROOT / "api" / "static" / "app"


def test_the_page_is_served_at_app_with_and_without_the_slash(app):
    http = app.test_client()
    for path in ("/app", "/app/"):
        page = http.get(path)
        assert page.status_code == 200 and page.mimetype == "text/html"
        assert page.headers["Cache-Control"] == "no-cache"  # a new build reaches phones at once
        assert page.get_data() == (BUILD / "index.html").read_bytes()


def test_the_page_runs_only_its_own_scripts_and_is_never_framed_or_sniffed(app):
    headers = app.test_client().get("/app/").headers
    policy = dict(part.strip().split(" ", 1) for part in headers["Content-Security-Policy"].split(";"))
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'" and policy["object-src"] == "'none'"
    assert "unsafe" not in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"


class _Markup(HTMLParser):
    def __init__(self):
        super().__init__()
        self.inline_scripts, self.handlers, self.styles, self.scripts = 0, [], [], []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "script":
            self.scripts.append(attributes.get("src"))
        self.handlers += [name for name in attributes if name.startswith("on")]
        self.styles += [tag for name in attributes if name == "style"]

    def handle_data(self, data):
        if self.lasttag == "script" and data.strip():
            self.inline_scripts += 1


def test_the_built_page_has_nothing_inline_for_the_policy_to_refuse():
    markup = _Markup()
    markup.feed((BUILD / "index.html").read_text())
    assert markup.inline_scripts == 0 and markup.handlers == [] and markup.styles == []
    assert len(markup.scripts) == 1 and re.fullmatch(r"/app/assets/index-[\w-]+\.js", markup.scripts[0])


def test_the_service_worker_may_control_all_of_app_and_keeps_every_file_it_names(app):
    http = app.test_client()
    worker = http.get("/app/sw.js")
    assert worker.status_code == 200 and worker.mimetype == "text/javascript"
    assert worker.headers["Service-Worker-Allowed"] == "/app"
    assert worker.headers["Cache-Control"] == "no-cache"
    precache = json.loads(re.search(r"const PRECACHE = (\[.*?\]);", worker.get_data(as_text=True), re.DOTALL).group(1))
    assert "/app/" in precache and "/app/manifest.webmanifest" in precache
    for path in precache:
        assert http.get(path).status_code == 200, path
    assert not [path for path in precache if path.startswith("/api/")]  # answers are personal: never kept


def test_the_manifest_makes_the_app_installable(app):
    http = app.test_client()
    answer = http.get("/app/manifest.webmanifest")
    assert answer.mimetype == "application/manifest+json"
    manifest = answer.get_json(force=True)
    assert manifest["start_url"] == "/app/" and manifest["scope"] == "/app" and manifest["display"] == "standalone"
    assert manifest["name"] and manifest["short_name"] and manifest["lang"] == "zh-CN"
    sizes = {}
    for icon in manifest["icons"]:
        image = http.get(icon["src"])
        assert image.status_code == 200 and image.mimetype == icon["type"], icon["src"]
        if icon["type"] == "image/png":
            width, height = Image.open(io.BytesIO(image.data)).size
            assert icon["sizes"] == f"{width}x{height}"
            sizes[(width, icon["purpose"])] = icon["src"]
    assert {(192, "any"), (512, "any"), (512, "maskable")} <= set(sizes)


def test_hashed_assets_are_cached_for_good(app):
    [script] = (BUILD / "assets").glob("index-*.js")
    answer = app.test_client().get(f"/app/assets/{script.name}")
    assert answer.status_code == 200 and answer.mimetype == "text/javascript"
    assert answer.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert app.test_client().get("/app/assets/../../scanner.py").status_code == 404


def source_digest() -> str:
    """What resident-app/vite.config.js `sourceDigest` computes: every file but node_modules/."""
    digest = hashlib.sha256()
    paths = sorted(path.relative_to(SOURCES).as_posix() for path in SOURCES.rglob("*")
                   if path.is_file() and "node_modules" not in path.relative_to(SOURCES).parts)
    for path in paths:
        digest.update(f"{path}\0".encode() + (SOURCES / path).read_bytes() + b"\0")
    return digest.hexdigest()


def test_the_committed_build_is_the_build_of_the_sources_as_they_stand():
    stamp = json.loads((BUILD / "build-stamp.json").read_text())
    assert stamp["sources_sha256"] == source_digest(), (
        "resident-app/ changed since api/static/app/ was built: run `npm ci && npm run build` in resident-app/ "
        "and commit the build with the change")
