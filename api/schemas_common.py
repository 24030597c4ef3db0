"""Field types shared by several audiences' schemas.

Input fields here refuse what the database or the calendar cannot hold, so bad input is a 422
naming the field instead of an error deep in a service: `Text` (every string that comes in),
`BoundedDate` and `BoundedAwareDateTime` (every date and time that comes in).
"""
import re
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import marshmallow as ma
from flask_babel import gettext as _
from flask_babel import lazy_gettext

_l = lazy_gettext  # Flask-Babel's usual short name for it; babel.cfg extracts _l(...)

DISTRICTS = (
    "滨城区", "沾化区", "惠民县", "阳信县", "无棣县", "博兴县", "邹平市",
    "滨州经济技术开发区", "滨州高新技术产业开发区", "北海经济开发区",
)

CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
PHONE = ma.validate.Regexp(r"^1[3-9]\d{9}$", error=_l("Not a mainland China mobile number."))

# What no text column can take: NUL (PostgreSQL refuses it), a lone surrogate (UTF-8 cannot
# encode one, so the driver would fail) and Unicode's non-characters (U+FDD0–U+FDEF and the
# last two code points of every plane), which are for a program's internal use, never interchange.
NOT_TEXT = re.compile("[\x00\ud800-\udfff\ufdd0-\ufdef"
                      + "".join(chr(plane << 16 | 0xFFFE) + chr(plane << 16 | 0xFFFF) for plane in range(17))
                      + "]")


class Text(ma.fields.String):
    """A string the database can store: NUL, lone surrogates and non-characters are refused."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if NOT_TEXT.search(text):
            raise ma.ValidationError(_("Contains characters that are not text (NUL, a lone surrogate or a "
                                       "non-character)."))
        return text


class TrimmedString(Text):
    """A string with surrounding whitespace removed; control characters refused."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if CONTROL_CHARACTERS.search(text):
            raise ma.ValidationError(_("Contains control characters."))
        return text


SHANGHAI = ZoneInfo("Asia/Shanghai")
# Times go out with a fixed +08:00: Asia/Shanghai's rules would give local mean time (+08:05:43,
# not RFC 3339) before 1901, and +09:00 in the summers of 1986–1991.
CHINA_STANDARD_TIME = timezone(timedelta(hours=8))

# The dates any action, campaign, methodology or report of the platform can be about. Outside
# them, Python's date arithmetic overflows (9999-12-31 + 1 day) and old dates meet calendar rules
# no client expects.
EARLIEST_DAY, LATEST_DAY = date(2000, 1, 1), date(2100, 12, 31)
_FIRST_MOMENT = datetime.combine(EARLIEST_DAY, time(), CHINA_STANDARD_TIME)
_END_OF_LAST_DAY = datetime.combine(LATEST_DAY + timedelta(days=1), time(), CHINA_STANDARD_TIME)


def within_calendar(day: date) -> bool:
    return EARLIEST_DAY <= day <= LATEST_DAY


def outside_calendar_message() -> str:
    return _("Must lie between %(earliest)s and %(latest)s.", earliest=EARLIEST_DAY.isoformat(),
             latest=LATEST_DAY.isoformat())


class BoundedDate(ma.fields.Date):
    """A calendar day from 2000-01-01 to 2100-12-31."""

    def _deserialize(self, value, attr, data, **kwargs):
        day = super()._deserialize(value, attr, data, **kwargs)
        if not within_calendar(day):
            raise ma.ValidationError(outside_calendar_message())
        return day


class BoundedAwareDateTime(ma.fields.AwareDateTime):
    """A time with its offset, on a day from 2000-01-01 to 2100-12-31 (China Standard Time)."""

    def _deserialize(self, value, attr, data, **kwargs):
        moment = super()._deserialize(value, attr, data, **kwargs)
        # Aware datetimes compare without converting, so year 1 at +14:00 does not overflow here.
        if not _FIRST_MOMENT <= moment < _END_OF_LAST_DAY:
            raise ma.ValidationError(outside_calendar_message())
        return moment


class LocalDateTime(ma.fields.AwareDateTime):
    """Stored in UTC, shown in China Standard Time with its +08:00 offset."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is not None:
            value = value.astimezone(CHINA_STANDARD_TIME)
        return super()._serialize(value, attr, obj, **kwargs)
