"""Who a sign-in attempt counts against.

Per phone number first: guessing one resident's password is slow (a few a minute, fewer an hour),
whoever's address it comes from. Per client address only loosely: behind a carrier's NAT or an
office's one address, many honest people sign in, and one attacker must not lock them all out.
Sign-up has an allowance of its own, so an office registering its staff does not spend its
neighbours' sign-ins.
"""
from flask import current_app, request
from flask_limiter.util import get_remote_address


def phone_in_body() -> str:
    """The phone number the attempt names (sign-in by API or console form), else the address."""
    body = request.get_json(silent=True) if request.is_json else request.form
    phone = body.get("phone") if isinstance(body, dict) or hasattr(body, "get") else None
    if isinstance(phone, str) and phone.strip():
        return "phone:" + phone.strip()[:32]
    return "address:" + get_remote_address()


def per_phone() -> str:
    return current_app.config["LOGIN_PHONE_RATE_LIMIT"]


def per_address() -> str:
    return current_app.config["LOGIN_ADDRESS_RATE_LIMIT"]


def sign_up() -> str:
    return current_app.config["REGISTER_RATE_LIMIT"]
