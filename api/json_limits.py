"""A JSON body nested deeper than 32 levels, or with an integer longer than 30 digits, is a 400.

Neither is something a client can mean, and both hurt the parser: json.loads recurses once per
level (100,000 nested arrays end in a RecursionError, a 500) and converts integers whole (past
4,300 digits a ValueError outside webargs' handling, and quadratic time before that). So the raw
body is checked before webargs parses it with bytes methods (C code, no loop over the body in
Python): an ordinary request costs three scans, a signed batch of 1,000 events about 2 ms (a
little less than parsing it), and a 2 MiB body of brackets built to be slow no more than parsing
it would.
"""
import re

from flask import request
from flask_babel import gettext as _

from api.problems import problem_response

MAX_DEPTH = 32
MAX_INTEGER_DIGITS = 30

ALL_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
LONG_DIGIT_RUN = b"0" * (MAX_INTEGER_DIGITS + 1)
# The integer part of a number: not after a letter, digit, '.', '+' or '-' (a fraction, an exponent).
LONG_INTEGER = re.compile(rb"(?<![\w.+\-])-?\d{%d}" % (MAX_INTEGER_DIGITS + 1))
NOT_QUOTE_OR_BRACKET = bytes(set(range(256)) - set(b'"[]{}'))
# Both kinds of bracket as parentheses: the nesting and nothing more. (A `[` closed by `}` counts
# as a pair here; the parser refuses it, at no depth.)
BRACKETS_AS_PARENTHESES = bytes.maketrans(b"[]{}", b"()()")
TOO_MANY_OPENINGS = b"(" * (MAX_DEPTH + 1)


def body_problem(body: bytes) -> str | None:
    """Why this JSON body is refused before parsing ("too_deep", "unbalanced", "long_integer"), or None."""
    if body.count(b"[") + body.count(b"{") > MAX_DEPTH:  # else it cannot be deeper than that
        problem = _nesting_problem(_nesting(body))
        if problem:
            return problem
    if LONG_DIGIT_RUN in body.translate(ALL_DIGITS_AS_ZERO) and LONG_INTEGER.search(_outside_strings(body)):
        return "long_integer"
    return None


def _unescaped(body: bytes) -> bytes:
    """Escaped backslashes removed, then escaped quotes: every quote left opens or closes a string."""
    return body.replace(b"\\\\", b"").replace(b'\\"', b"")


def _outside_strings(body: bytes) -> bytes:
    """The body without its string literals, so the digits inside them do not count."""
    return b"".join(_unescaped(body).split(b'"')[::2])


def _nesting(body: bytes) -> bytes:
    """The brackets outside string literals, as parentheses.

    Only quotes and brackets are kept, and then every `""` dropped (a string without brackets, or a
    closing and an opening quote: either way the parity of the quotes around the rest holds), so
    what is split is short even for a batch of 1,000 events with 16,000 strings.
    """
    quotes_and_brackets = _unescaped(body).translate(None, NOT_QUOTE_OR_BRACKET).replace(b'""', b"")
    return b"".join(quotes_and_brackets.split(b'"')[::2]).translate(BRACKETS_AS_PARENTHESES)


def _nesting_problem(nesting: bytes) -> str | None:
    """Remove the innermost pairs, one level a pass: MAX_DEPTH passes empty a body nested no deeper."""
    if TOO_MANY_OPENINGS in nesting:
        return "too_deep"
    for _level in range(MAX_DEPTH):
        inner = nesting.replace(b"()", b"")  # matches in the bytes as they were: one level, not more
        if len(inner) == len(nesting):
            break
        nesting = inner
    if not nesting:
        return None
    # Still a pair after MAX_DEPTH passes: deeper. No pair but brackets left: they do not match,
    # which is not JSON either (and an unmatched run of openings would still recurse in the parser).
    return "too_deep" if b"()" in nesting else "unbalanced"


def refusal_message(problem: str) -> str:
    if problem == "too_deep":
        return _("Nested deeper than %(limit)s levels.", limit=MAX_DEPTH)
    if problem == "long_integer":
        return _("A number has more than %(limit)s digits.", limit=MAX_INTEGER_DIGITS)
    return _("Invalid JSON body.")


def refuse_unreasonable_json(app) -> None:
    """Check every JSON body before a view (and webargs) parses it; chunked bodies too."""

    @app.before_request
    def check_json_body():
        if not request.is_json:
            return None
        problem = body_problem(request.get_data(cache=True))  # over MAX_CONTENT_LENGTH: 413 here
        if problem is None:
            return None
        return problem_response("bad_request", status=400, errors={"_schema": [refusal_message(problem)]})
