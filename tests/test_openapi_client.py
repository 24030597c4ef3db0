"""A Python client generated from the served OpenAPI document, as a phone or partner developer makes
one: openapi-python-client with the repository's settings (openapi-python-client.yaml), installed
with pip, and driven over real HTTP against the app on a loopback port.

What it proves: the package installs (an ASCII title); functions carry the operationIds; headers
are per call (an Idempotency-Key given to one call never reaches the next); `GET /me`'s account is
a typed model; errors parse as Problem; images come back as bytes and SVG and CSV as text.
"""
import importlib
import io
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import select

from accounting.business_day import shanghai_day
from accounting.ledger.models import Account
from config.db_types import utcnow
from config.extensions import db
from merchants.qr_tokens import read_token
from tests.coupons_support import create_campaign, open_shop
from tests.registry_support import BASE_DAY, issue
from tests.support import RESIDENT_PASSWORD, ago, next_phone

ROOT = Path(__file__).resolve().parent.parent
GENERATOR_SETTINGS = ROOT / "openapi-python-client.yaml"
PACKAGE = "binzhou_carbon_inclusion_platform_api_client"  # what the generator makes of info.title


def _run(*command: str | Path) -> str:
    """Run a command to completion; its output (stdout and stderr), or a failure that shows it."""
    # The generator formats its output with ruff, installed beside this interpreter.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run([str(part) for part in command], check=False, capture_output=True, text=True, env=env,
                          timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{command[:4]} failed:\n{output}"
    return output


@pytest.fixture(scope="module")
def client_package(live_url, tmp_path_factory):
    """The generated client, pip-installed into a directory of its own and imported from there."""
    work = tmp_path_factory.mktemp("generated-client")
    document = work / "openapi.json"
    document.write_bytes(httpx.get(f"{live_url}/api/v1/openapi.json").raise_for_status().content)
    project, site = work / "project", work / "site"
    generated = _run(sys.executable, "-m", "openapi_python_client", "generate", "--path", document,
                     "--config", GENERATOR_SETTINGS, "--meta", "setup", "--output-path", project)
    # A warning means some operation or response was left out of the client.
    assert "Warning" not in generated, generated
    # Offline and isolated: no dependencies (httpx and attrs are the test environment's), and the
    # venv's setuptools builds the wheel instead of a build environment downloaded for it.
    _run(sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", site, project)
    sys.path.insert(0, str(site))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(site))
        for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
            del sys.modules[name]


class Generated:
    """The generated package's parts by the names a developer sees: clients, models, operations."""

    def __init__(self, package, base_url: str):
        self.package, self.base_url = package, base_url
        self.models = importlib.import_module(f"{PACKAGE}.models")

    def operation(self, tag: str, operation_id: str):
        return importlib.import_module(f"{PACKAGE}.api.{tag}.{operation_id}")

    def anonymous(self):
        return self.package.Client(base_url=self.base_url, raise_on_unexpected_status=True)

    def signed_in(self, token: str):
        return self.package.AuthenticatedClient(base_url=self.base_url, token=token, raise_on_unexpected_status=True)


@pytest.fixture
def generated(client_package, live_url):
    return Generated(client_package, live_url)


def _give_credits(app, account_number: str, grams: int) -> None:
    """Credits issued the real way: verified reductions, then the day's issuance run."""
    with app.app_context():
        account_id = db.session.scalar(select(Account.id).where(Account.number == account_number))
        issue(BASE_DAY, {account_id: grams})


def _register(generated) -> tuple:
    """A resident signed up through the generated client; returns the answer and a signed-in client."""
    body = generated.models.Register(phone=next_phone(), password=RESIDENT_PASSWORD, display_name="客户端居民")
    registered = generated.operation("auth", "register").sync(client=generated.anonymous(), body=body)
    assert isinstance(registered, generated.models.Registered)
    return registered, generated.signed_in(registered.access_token)


def test_a_resident_journey_through_the_generated_client(app, api, generated):
    models, operation = generated.models, generated.operation
    registered, resident = _register(generated)

    me = operation("resident", "get_me").sync(client=resident)
    assert isinstance(me.account, models.Account)  # one model, not a union with an untyped object
    assert (me.account.number, me.account.balance_g) == (registered.account.number, 0)

    # A key belongs to the call it is given to: the same key and body replays, and the next
    # calls, with another key or none, are new trips rather than a reused key's 422.
    record_trip = operation("resident", "record_trip")
    start = ago(hours=5)
    trips = [models.Trip(mode=models.TripMode.BUS, started_at=start + timedelta(hours=hour),
                         ended_at=start + timedelta(hours=hour, minutes=20), distance_m=5000) for hour in range(3)]
    first = record_trip.sync_detailed(client=resident, body=trips[0], idempotency_key="trip-1")
    replayed = record_trip.sync_detailed(client=resident, body=trips[0], idempotency_key="trip-1")
    second = record_trip.sync_detailed(client=resident, body=trips[1], idempotency_key="trip-2")
    unkeyed = record_trip.sync_detailed(client=resident, body=trips[2])
    assert [r.status_code for r in (first, replayed, second, unkeyed)] == [202] * 4
    assert replayed.headers["Idempotent-Replayed"] == "true" and replayed.parsed.id == first.parsed.id
    assert len({first.parsed.id, second.parsed.id, unkeyed.parsed.id}) == 3
    assert "Idempotency-Key" not in resident.get_httpx_client().headers

    _give_credits(app, registered.account.number, 500)
    shop = open_shop(app, api)
    campaign = create_campaign(api, shop, price_g=100, per_resident_limit=1)
    claim_coupon = operation("coupons", "claim_coupon")
    claimed = claim_coupon.sync_detailed(campaign_id=campaign["id"], client=resident, idempotency_key="claim-1")
    assert claimed.status_code == 201 and claimed.parsed.status == "claimed"
    assert operation("resident", "get_me").sync(client=resident).account.balance_g == 400

    # An error is a typed Problem, in the language asked for on this call only.
    over = claim_coupon.sync_detailed(campaign_id=campaign["id"], client=resident, idempotency_key="claim-2",
                                      accept_language=models.Language.EN)
    assert over.status_code == 409 and over.headers["Content-Type"] == "application/problem+json"
    assert isinstance(over.parsed, models.Problem)
    assert (over.parsed.code, over.parsed.title) == ("over_limit", "Over the limit")
    in_chinese = claim_coupon.sync_detailed(campaign_id=campaign["id"], client=resident, idempotency_key="claim-3")
    assert in_chinese.headers["Content-Language"] == "zh-CN"

    png = operation("coupons", "get_coupon_qr_png").sync(coupon_id=claimed.parsed.id, client=resident)
    [decoded] = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.payload.read())))
    assert read_token(decoded.text, app.config["SECRET_KEY"])[0] == claimed.parsed.id


def test_svg_and_csv_come_back_as_text(app, api, generated):
    models, operation = generated.models, generated.operation
    registered, resident = _register(generated)
    _give_credits(app, registered.account.number, 300)

    retirement = operation("holders", "retire_credits").sync(client=resident, idempotency_key="retire-1",
                                                             body=models.Retire(amount_g=120, beneficiary="滨州市民",
                                                                                purpose="绿色出行"))
    certificate = operation("holders", "get_retirement_certificate_svg").sync(number=retirement.number,
                                                                              client=generated.anonymous())
    assert isinstance(certificate, str) and certificate.startswith("<svg") and retirement.number in certificate

    shop = open_shop(app, api)
    campaign = create_campaign(api, shop, price_g=100)
    coupon = operation("coupons", "claim_coupon").sync(campaign_id=campaign["id"], client=resident)
    coupon_svg = operation("coupons", "get_coupon_qr_svg").sync(coupon_id=coupon.id, client=resident)
    assert isinstance(coupon_svg, str) and coupon_svg.lstrip().startswith("<")

    cashier = generated.signed_in(shop.cashier["Authorization"].removeprefix("Bearer "))
    today = shanghai_day(utcnow())
    statement = operation("merchants", "get_merchant_statement_csv").sync(merchant_id=shop.id, client=cashier,
                                                                          from_=today, to=today)
    assert isinstance(statement, str) and campaign["title"] in statement
