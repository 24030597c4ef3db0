"""Keyset pagination: `?limit=` and an opaque `?cursor=`; answers `{items, next_cursor}`."""
import base64
import binascii

import marshmallow as ma
from flask_babel import gettext as _

from api.translated_validators import Range

MAX_ID = 2**63 - 1  # ids are bigints; a larger one would reach the database and fail there


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, value = text.split(":", 1)
        if prefix != "id" or not 0 < int(value) <= MAX_ID:
            raise ValueError
        return int(value)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise ma.ValidationError(_("Not a valid cursor.")) from None


class CursorField(ma.fields.String):
    """A cursor handed out by an earlier page; loads to the id to continue below."""

    def _deserialize(self, value, attr, data, **kwargs):
        return decode_cursor(super()._deserialize(value, attr, data, **kwargs))


class PageArgs(ma.Schema):
    limit = ma.fields.Integer(load_default=20, validate=Range(1, 100))
    cursor = CursorField(load_default=None)


def page(items: list, limit: int) -> dict:
    """The response body for a page fetched with limit + 1 rows (the extra one says 'more')."""
    more = len(items) > limit
    items = items[:limit]
    return {"items": items, "next_cursor": encode_cursor(items[-1].id) if more and items else None}
