"""Reading the public page back: its tables (each cell's text and exact grams from `<data value>`),
its CSV downloads, and the registry's own sums computed apart from the page's SQL (through the
models and the ledger's services), for the tests to hold one against the other."""
import csv
import io
from collections import Counter, defaultdict
from html.parser import HTMLParser

from sqlalchemy import select

from accounting.business_day import SHANGHAI
from accounting.issuance.models import BatchLine, IssuanceBatch
from accounting.ledger.models import Account, Holder, JournalEntry, JournalTransaction, Retirement
from accounting.ledger.movement import ranges_of
from accounting.quantification.models import Methodology, MethodologyVersion
from config.extensions import db
from merchants.models import Campaign, Coupon, Merchant


class PageTables(HTMLParser):
    """section id → rows of the table body → cells as (text, [grams in its <data value>])."""

    def __init__(self, page: str):
        super().__init__()
        self.sections: dict[str, list[list[tuple[str, list[int]]]]] = defaultdict(list)
        self.section, self.in_body, self.row, self.cell = None, False, None, None
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.section = attrs.get("id")
        elif tag == "tbody":
            self.in_body = True
        elif tag == "tr" and self.in_body:
            self.row = []
        elif tag == "td" and self.row is not None:
            self.cell = ["", []]
        elif tag == "data" and self.cell is not None:
            self.cell[1].append(int(attrs["value"]))

    def handle_endtag(self, tag):
        if tag == "td" and self.cell is not None:
            self.row.append((" ".join(self.cell[0].split()), self.cell[1]))
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.sections[self.section].append(self.row)
            self.row = None
        elif tag == "tbody":
            self.in_body = False

    def handle_data(self, data):
        if self.cell is not None:
            self.cell[0] += data


def read_csv(client, name: str) -> list[dict]:
    answer = client.get(f"/public/{name}.csv")
    assert answer.status_code == 200 and answer.mimetype == "text/csv", (name, answer.status_code)
    text = answer.get_data(as_text=True)
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


def _month(moment) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m")


def _methodology_of_prefixes() -> dict[str, str]:
    version = MethodologyVersion.id == IssuanceBatch.methodology_version_id
    query = (select(IssuanceBatch.serial_prefix, Methodology.code).join(MethodologyVersion, version)
             .join(Methodology, Methodology.id == MethodologyVersion.methodology_id))
    return dict(db.session.execute(query).all())


def _district_of_account(account_id: int) -> str:
    district = db.session.scalar(select(Holder.district).join(Account, Account.holder_id == Holder.id)
                                 .where(Account.id == account_id))
    return district or ""


def registry_sums() -> dict[str, dict[str, Counter]]:
    """{"month"|"methodology"|"district": {key: Counter(issued_g=…, retired_g=…, redeemed_g=…, donated_g=…)}},
    from the models and the ledger's ranges_of, not from the page's queries."""
    sums = {"month": defaultdict(Counter), "methodology": defaultdict(Counter), "district": defaultdict(Counter)}
    methodology_of = _methodology_of_prefixes()

    def add(flow, month, district, transaction_id=None, methodology=None, grams=None):
        if transaction_id is not None:
            for moved in ranges_of(transaction_id):
                sums["methodology"][methodology_of[moved.serial_prefix]][flow] += moved.units
            grams = sum(moved.units for moved in ranges_of(transaction_id))
        else:
            sums["methodology"][methodology][flow] += grams
        sums["month"][month][flow] += grams
        sums["district"][district][flow] += grams

    issued = db.session.scalars(select(IssuanceBatch).where(IssuanceBatch.status == "issued")).all()
    for batch in issued:
        code = methodology_of[batch.serial_prefix]
        sums["methodology"][code]["issued_g"] += batch.quantity_g
        sums["month"][f"{batch.vintage:%Y-%m}"]["issued_g"] += batch.quantity_g
    for line in db.session.scalars(select(BatchLine).where(BatchLine.batch_id.in_([b.id for b in issued]))):
        sums["district"][_district_of_account(line.account_id)]["issued_g"] += line.quantity_g
    for retirement in db.session.scalars(select(Retirement)):
        add("retired_g", _month(retirement.created_at), _district_of_account(retirement.account_id),
            retirement.transaction_id)
        assert sum(r.units for r in ranges_of(retirement.transaction_id)) == retirement.amount_g
    redeemed = db.session.execute(select(Coupon, Merchant.district).join(Campaign, Campaign.id == Coupon.campaign_id)
                                  .join(Merchant, Merchant.id == Campaign.merchant_id)
                                  .where(Coupon.status == "redeemed")).all()
    for coupon, district in redeemed:
        add("redeemed_g", _month(coupon.redeemed_at), district, coupon.redeem_transaction_id)
    donations = db.session.execute(select(JournalTransaction, JournalEntry.account_id).join(JournalEntry)
                                   .where(JournalTransaction.kind == "donate", JournalEntry.amount_g < 0)).all()
    for transaction, donor in donations:
        add("donated_g", _month(transaction.created_at), _district_of_account(donor), transaction.id)
    return sums
