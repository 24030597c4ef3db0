"""Keyset pagination: `?limit=` and an opaque `?cursor=`; answers `{items, next_cursor}`."""
import base64
import binascii

import marshmallow as ma
from flask_babel import gettext as _

from api.id_ranges import BIGINT_MAX
from api.schemas_common import Text
from api.translated_validators import Range


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str, max_id: int = BIGINT_MAX) -> int:
    """The id a cursor continues from; one beyond `max_id` (the column's range) was never handed out."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, value = text.split(":", 1)
        if prefix != "id" or len(value) > len(str(max_id)) or not 0 < int(value) <= max_id:
            raise ValueError
        return int(value)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise ma.ValidationError(_("Not a valid cursor.")) from None


class CursorField(Text):
    """A cursor handed out by an earlier page; loads to the id to continue below.

    `max_id` is the range of the id column the list pages over (api.id_ranges).
    """

    def __init__(self, *, max_id: int = BIGINT_MAX, **kwargs):
        super().__init__(**kwargs)
        self.max_id = max_id

    def _deserialize(self, value, attr, data, **kwargs):
        return decode_cursor(super()._deserialize(value, attr, data, **kwargs), self.max_id)


class PageArgs(ma.Schema):
    limit = ma.fields.Integer(load_default=20, validate=Range(1, 100))
    cursor = CursorField(load_default=None)


def page(items: list, limit: int) -> dict:
    """The response body for a page fetched with limit + 1 rows (the extra one says 'more')."""
    more = len(items) > limit
    items = items[:limit]
    return {"items": items, "next_cursor": encode_cursor(items[-1].id) if more and items else None}
