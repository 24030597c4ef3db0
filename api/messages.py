"""Every refusal the platform can give, by stable code: its HTTP status and its English texts.

The texts are msgids: Flask-Babel translates them from api/translations/ when a response is
written, in the language api.locales chose. A detail's `%(name)s` fields are filled from the
error's parameters (so a literal percent sign is written `%%`); a parameter that is missing
shows as `{name}` and never raises.
"""
from typing import NamedTuple

from flask_babel import gettext, lazy_gettext, lazy_pgettext
from flask_babel.speaklater import LazyString

_l = lazy_gettext  # Flask-Babel's usual short name for it; babel.cfg extracts _l(...)


class Problem(NamedTuple):
    """A code's HTTP status (not a translation: it stays beside the msgids) and its texts."""

    status: int
    title: LazyString
    detail: LazyString


PROBLEMS: dict[str, Problem] = {
    "validation_failed": Problem(422, _l("Invalid request"), _l("Check the fields listed in errors.")),
    "bad_request": Problem(400, _l("Bad request"), _l("The request could not be parsed; send valid JSON.")),
    "not_found": Problem(404, _l("Not found"), _l("The requested resource does not exist.")),
    "method_not_allowed": Problem(405, _l("Method not allowed"), _l("This path does not accept that method.")),
    "payload_too_large": Problem(413, _l("Payload too large"), _l("The request body exceeds the allowed size.")),
    "unsupported_media_type": Problem(415, _l("Unsupported media type"), _l("Send the body as application/json.")),
    "rate_limited": Problem(429, _l("Too many requests"), _l("Slow down and try again later.")),
    "database_busy": Problem(503, _l("Busy, try again"),
                             _l("The records you asked about are busy just now; nothing was changed. Try again.")),
    "database_unavailable": Problem(503, _l("Temporarily unavailable"),
                                    _l("The service lost its database for a moment; nothing was changed. Try again.")),
    "internal_error": Problem(500, _l("Internal error"),
                              _l("Something unexpected happened; it was logged. Try again later.")),
    "http_error": Problem(400, _l("Request failed"), _l("The request could not be completed.")),
    # identity
    "unauthorized": Problem(401, _l("Not signed in"), _l("Sign in first.")),
    "token_invalid": Problem(401, _l("Invalid token"), _l("The token is not valid; sign in again.")),
    "token_expired": Problem(401, _l("Token expired"), _l("The token has expired; refresh it or sign in again.")),
    "token_revoked": Problem(401, _l("Token revoked"), _l("This session has been signed out; sign in again.")),
    "wrong_token_type": Problem(401, _l("Wrong token type"), _l("This endpoint needs a %(expected)s token.")),
    "bad_credentials": Problem(401, _l("Wrong phone or password"), _l("The phone number or password is not correct.")),
    "phone_taken": Problem(409, _l("Phone already registered"),
                           _l("This phone number is registered already; sign in instead.")),
    "forbidden_role": Problem(403, _l("Not allowed"), _l("Your role may not do this.")),
    "wrong_password": Problem(403, _l("Wrong password"),
                              _l("The password is not correct; the account was not closed.")),
    # idempotency
    "idempotency_key_reused": Problem(422, _l("Idempotency key reused"),
                                      _l("This Idempotency-Key was used with a different request.")),
    # accounts and sources
    "account_not_found": Problem(404, _l("Account not found"), _l("No such carbon account.")),
    "source_not_found": Problem(404, _l("Data source not found"), _l("No data source %(code)s.")),
    "authorization_not_found": Problem(404, _l("Not authorized"), _l("You have not authorized data source %(code)s.")),
    "source_exists": Problem(409, _l("Source exists"), _l("Data source %(code)s is filed already.")),
    "station_exists": Problem(409, _l("Station exists"), _l("Station %(code)s is filed already.")),
    "unknown_source_kind": Problem(422, _l("Unknown source kind"), _l("Source kind %(kind)s is not supported.")),
    # signed source requests
    "missing_signature_headers": Problem(401, _l("Signature missing"),
                                         _l("Send the X-Source-Key, X-Timestamp and X-Signature headers.")),
    "bad_timestamp": Problem(401, _l("Bad timestamp"), _l("X-Timestamp must be Unix seconds.")),
    "stale_timestamp": Problem(401, _l("Stale request"),
                               _l("The request time is more than %(max_age_seconds)s s from the server's.")),
    "bad_signature": Problem(401, _l("Bad signature"), _l("The key or the signature is not correct.")),
    "replayed_request": Problem(401, _l("Replayed request"),
                                _l("This signature was seen before; sign the request anew.")),
    "source_suspended": Problem(401, _l("Source suspended"), _l("Data source %(code)s is suspended.")),
    "too_many_events": Problem(422, _l("Too many events"), _l("Send at most %(limit)s events per request.")),
    # methodologies (备案)
    "methodology_not_found": Problem(404, _l("Methodology not found"), _l("No such methodology.")),
    "methodology_version_not_found": Problem(404, _l("Version not found"), _l("No such methodology version.")),
    "methodology_exists": Problem(409, _l("Methodology exists"), _l("Methodology %(code)s is filed already.")),
    "version_not_in_state": Problem(409, _l("Wrong version status"),
                                    _l("The version is %(actual)s; this needs %(expected)s.")),
    "approver_is_filer": Problem(409, _l("Four eyes required"),
                                 _l("Whoever wrote or filed a version may not approve it; another auditor must.")),
    "invalid_effective_range": Problem(422, _l("Invalid effective range"),
                                       _l("effective_to must be after effective_from.")),
    # registry
    "insufficient_balance": Problem(422, _l("Insufficient balance"),
                                    _l("The account does not hold enough credits for this.")),
    "invalid_amount": Problem(422, _l("Invalid amount"), _l("The amount must be a positive whole number of grams.")),
    "same_account": Problem(422, _l("Same account"), _l("Sender and receiver are the same account.")),
    "account_frozen": Problem(409, _l("Account frozen"), _l("The account is frozen; its credits cannot move.")),
    "nothing_to_move": Problem(409, _l("Nothing to move"), _l("The account holds no units of that range.")),
    "account_not_frozen": Problem(409, _l("Account not frozen"), _l("The account is not frozen.")),
    "no_account": Problem(403, _l("No account"), _l("Your role holds no carbon account.")),
    "serial_not_found": Problem(404, _l("Serial not found"), _l("No issued unit has this serial number.")),
    "checkpoint_not_found": Problem(404, _l("No checkpoint yet"),
                                    _l("Nothing has been sealed into the audit chain yet.")),
    "retirement_not_found": Problem(404, _l("Retirement not found"), _l("No retirement has this number.")),
    "batch_not_found": Problem(404, _l("Batch not found"), _l("No such issuance batch.")),
    "batch_not_in_state": Problem(409, _l("Wrong batch status"),
                                  _l("The batch is %(actual)s; this needs %(expected)s.")),
    "approver_is_proposer": Problem(409, _l("Four eyes required"), _l("Whoever proposed a batch may not approve it.")),
    "batch_issued_elsewhere": Problem(409, _l("Batch issued elsewhere"), _l("Another process issued this batch.")),
    # merchants and coupons (价值兑现)
    "merchant_not_found": Problem(404, _l("Merchant not found"), _l("No such merchant.")),
    "merchant_not_in_state": Problem(409, _l("Wrong merchant status"),
                                     _l("The merchant is %(actual)s; this needs %(expected)s.")),
    "merchant_not_approved": Problem(409, _l("Merchant not approved"),
                                     _l("Only an approved merchant can publish or redeem coupons or send credits.")),
    "no_merchant": Problem(403, _l("No merchant"), _l("Your account belongs to no merchant.")),
    "already_member": Problem(409, _l("Already with a merchant"), _l("Your account already belongs to a merchant.")),
    "campaign_not_found": Problem(404, _l("Campaign not found"), _l("No such campaign.")),
    "campaign_not_in_state": Problem(409, _l("Wrong campaign status"),
                                     _l("The campaign is %(actual)s; this needs %(expected)s.")),
    "campaign_not_open": Problem(409, _l("Campaign not open"), _l("This campaign cannot be claimed now.")),
    "invalid_validity": Problem(422, _l("Invalid validity"), _l("valid_until must be after valid_from.")),
    "sold_out": Problem(409, _l("Sold out"), _l("No coupons of this campaign are left.")),
    "over_limit": Problem(409, _l("Over the limit"), _l("Each resident may claim at most %(limit)s.")),
    "coupon_not_found": Problem(404, _l("Coupon not found"), _l("No such coupon.")),
    "coupon_of_another_merchant": Problem(403, _l("Another shop's coupon"),
                                          _l("This coupon belongs to another merchant and cannot be redeemed here.")),
    "already_redeemed": Problem(409, _l("Already redeemed"), _l("This coupon was redeemed at %(merchant)s on %(at)s.")),
    "coupon_expired": Problem(409, _l("Coupon expired"),
                              _l("This coupon has expired; its credits go back to the resident.")),
    "qr_invalid": Problem(422, _l("Invalid QR code"), _l("The QR code is not one of ours or was altered.")),
    "qr_expired": Problem(422, _l("QR code expired"),
                          _l("Ask the customer to refresh the code in the app and scan again.")),
    # the market (交易)
    "invalid_credit_code": Problem(422, _l("Invalid credit code"),
                                   _l("%(credit_code)s is not a valid unified social credit code (its check "
                                      "character does not match).")),
    "already_registered": Problem(409, _l("Already registered"),
                                  _l("An enterprise with credit code %(credit_code)s is registered already.")),
    "enterprise_not_found": Problem(404, _l("Enterprise not found"), _l("No such enterprise.")),
    "enterprise_not_in_state": Problem(409, _l("Wrong enterprise status"),
                                       _l("The enterprise is %(actual)s; this needs %(expected)s.")),
    "enterprise_not_approved": Problem(409, _l("Enterprise not approved"),
                                       _l("Only an approved enterprise can trade.")),
    "no_enterprise": Problem(403, _l("No enterprise"), _l("Your account belongs to no enterprise.")),
    "already_in_enterprise": Problem(409, _l("Already with an enterprise"),
                                     _l("Your account already belongs to an enterprise.")),
    "no_organization": Problem(403, _l("No organization"),
                               _l("Your account acts for no approved merchant or enterprise.")),
    "not_an_organization": Problem(422, _l("Not an organization"),
                                   _l("Account %(account_number)s is not an organization's; only merchants, "
                                      "enterprises and the pool hold money.")),
    "insufficient_funds": Problem(422, _l("Insufficient funds"),
                                  _l("The account's free money (%(money_fen)s fen) does not cover %(needed)s fen.")),
    "bank_reference_reused": Problem(409, _l("Bank reference reused"),
                                     _l("Bank reference %(bank_reference)s was recorded for another deposit.")),
    "withdrawal_not_found": Problem(404, _l("Withdrawal not found"), _l("No such withdrawal.")),
    "withdrawal_not_in_state": Problem(409, _l("Wrong withdrawal status"),
                                       _l("The withdrawal is %(actual)s; this needs %(expected)s.")),
    "min_lot_above_quantity": Problem(422, _l("Minimum lot too large"),
                                      _l("min_lot_g (%(min_lot_g)s) must not exceed quantity_g (%(quantity_g)s).")),
    "expiry_not_in_future": Problem(422, _l("Expiry in the past"), _l("expires_at must lie in the future.")),
    "listing_not_found": Problem(404, _l("Listing not found"), _l("No such listing.")),
    "listing_not_open": Problem(409, _l("Listing not open"), _l("The listing is %(status)s; only an open one can "
                                                                "be cancelled.")),
    "no_fill": Problem(409, _l("Nothing to fill"),
                       _l("No open listing can fill this order at or below its price (%(fillable_g)s of "
                          "%(quantity_g)s g could fill); nothing moved.")),
    "order_not_found": Problem(404, _l("Order not found"), _l("No such order.")),
    "self_trade": Problem(409, _l("Own listing"), _l("An organization cannot buy its own listing.")),
    "invalid_auction_window": Problem(422, _l("Invalid auction window"),
                                      _l("closes_at must lie in the future and after opens_at.")),
    "auction_not_found": Problem(404, _l("Auction not found"), _l("No such auction.")),
    "auction_not_open": Problem(409, _l("Auction not open yet"), _l("The auction opens at %(opens_at)s.")),
    "auction_closed": Problem(409, _l("Auction closed"), _l("The auction has closed; bids are no longer taken.")),
    "auction_open": Problem(409, _l("Auction still open"),
                            _l("The auction closes at %(closes_at)s; it clears after that.")),
    "below_reserve": Problem(422, _l("Below the reserve price"),
                             _l("Bids must be at least the reserve price of %(reserve_price_fen_per_t)s fen/t.")),
    "bid_above_quantity": Problem(422, _l("Bid too large"),
                                  _l("The auction offers %(quantity_g)s g; a bid cannot ask for more.")),
    # events
    "invalid_event": Problem(422, _l("Invalid green action"), _l("Check the fields listed in errors.")),
    "external_id_taken": Problem(409, _l("External id taken"), _l("This external_id is in use by another record.")),
}

# Per-field codes in `errors` (events, sign-up) and the quantification reasons residents read.
FIELD_MESSAGES: dict[str, LazyString] = {
    "ends_before_start": _l("Ends before it starts."),
    "lasts_over_a_day": _l("Lasts more than 24 hours."),
    "outside_claim_window": _l("Older than the claim window of the methodology in force."),
    "in_future": _l("Lies in the future."),
    # The same English as account_not_found's detail, another Chinese: hence a context.
    "unknown_account": lazy_pgettext("field error", "No such carbon account."),
    "source_not_authorized": _l("The resident has not authorized this source."),
    "unknown_station": _l("No such station filed under this source."),
    # quantification (核算) reasons
    "too_fast": _l("Faster than this mode of travel allows."),
    "trip_too_short": _l("Shorter than the minimum trip."),
    "trip_too_long": _l("Longer than the maximum single trip."),
    "overlapping_trip": _l("Overlaps another of your trips in time."),
    "duplicate_claim": _l("The same trip was already claimed by another report."),
    "source_not_approved": _l("The data source is not approved."),
    "no_methodology_in_force": _l("No approved methodology was in force at the time."),
    "account_closed": _l("Forgone: the account was closed before this was issued."),
    # closing an account
    "beneficiary_required": _l("Name the beneficiary the balance is retired for."),
}


def N_(message: str) -> str:  # noqa: N802  (gettext's name for "mark for extraction only")
    """Mark a message for pybabel without translating it here."""
    return message


# marshmallow's and webargs' own fixed messages that our schemas can produce. They are written
# in English inside those libraries; listed here so pybabel extracts them, and translated by
# `api.field_errors` where errors leave the API. (Validators whose messages carry values, such
# as Range or Length, get translated messages in api/translated_validators.py instead.)
LIBRARY_MESSAGES = (
    N_("Missing data for required field."),
    N_("Field may not be null."),
    N_("Invalid value."),
    N_("Invalid input type."),
    N_("Invalid type."),
    N_("Unknown field."),
    N_("Not a valid string."),
    N_("Not a valid utf-8 string."),
    N_("Not a valid integer."),
    N_("Not a valid number."),
    N_("Number too large."),
    N_("Special numeric values (nan or infinity) are not permitted."),
    N_("Not a valid boolean."),
    N_("Not a valid datetime."),
    N_("Not a valid aware datetime."),
    N_("Not a valid date."),
    N_("Not a valid list."),
    N_("Not a valid mapping type."),
    N_("String does not match expected pattern."),
    N_("Invalid JSON body."),
)


class _ParamsOrPlaceholder(dict):
    """Format parameters where a missing one shows as `{name}` instead of raising."""

    def __missing__(self, key):
        return "{" + key + "}"


def fill(template: str, params: dict | None) -> str:
    """`template % params`, never failing: a bad template comes back as it is."""
    try:
        return template % _ParamsOrPlaceholder(params or {})
    except (TypeError, ValueError):
        return template


def status_of(code: str) -> int:
    return PROBLEMS.get(code, PROBLEMS["http_error"]).status


def title_and_detail(code: str, params: dict | None = None) -> tuple[str, str]:
    """The code's title and detail in the current locale, the detail filled from `params`."""
    problem = PROBLEMS.get(code, PROBLEMS["http_error"])
    return str(problem.title), fill(str(problem.detail), params)


def field_message(code_or_text: str) -> str:
    """A field error in the current locale: a known code, or a message (marshmallow's English)."""
    if code_or_text in FIELD_MESSAGES:
        return str(FIELD_MESSAGES[code_or_text])
    if not code_or_text:  # gettext("") is the catalogue's header, not a message
        return code_or_text
    return gettext(code_or_text)
