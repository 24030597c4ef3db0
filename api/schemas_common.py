"""Field types shared by several audiences' schemas."""
import re
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


class TrimmedString(ma.fields.String):
    """A string with surrounding whitespace removed; control characters refused."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if CONTROL_CHARACTERS.search(text):
            raise ma.ValidationError(_("Contains control characters."))
        return text


SHANGHAI = ZoneInfo("Asia/Shanghai")


class LocalDateTime(ma.fields.AwareDateTime):
    """Stored in UTC, shown in Asia/Shanghai with its +08:00 offset."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is not None:
            value = value.astimezone(SHANGHAI)
        return super()._serialize(value, attr, obj, **kwargs)
