"""Public account numbers: "BZ" + 9 random digits + a Luhn check digit.

The check digit catches the typos and swapped digits a cashier or a station operator
makes when keying a number by hand.
"""
import re
import secrets

PATTERN = re.compile(r"^BZ\d{10}$")


def luhn_check_digit(digits: str) -> int:
    """The digit that makes `digits` + it pass the Luhn check."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 0:  # doubled: these sit at odd positions once the check digit is appended
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return (10 - total % 10) % 10


def new_account_number() -> str:
    body = f"{secrets.randbelow(10**9):09d}"
    return f"BZ{body}{luhn_check_digit(body)}"


def is_valid_account_number(number: str) -> bool:
    if not isinstance(number, str) or not PATTERN.match(number):
        return False
    digits = number[2:]
    return luhn_check_digit(digits[:-1]) == int(digits[-1])
