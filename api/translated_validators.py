"""marshmallow's Range, Length and OneOf with their messages in the request's language.

Their messages carry the bounds or the choices ("Must be greater than or equal to 1."), so they
cannot be looked up in the catalogue once formatted. These subclasses hand marshmallow a lazy
msgid through its public `error` argument; marshmallow fills `{min}`, `{max}` and `{choices}`
when it refuses a value, inside the request, so in the language Flask-Babel chose for it. The
English msgids are marshmallow's own wording, so English clients read what they always did.
"""
from flask_babel import lazy_gettext
from marshmallow import validate

_l = lazy_gettext  # Flask-Babel's usual short name for it; babel.cfg extracts _l(...)


class Range(validate.Range):
    def __init__(self, min=None, max=None, *, min_inclusive=True, max_inclusive=True, error=None):  # noqa: A002
        if error is None and min_inclusive and max_inclusive:  # open bounds keep marshmallow's English
            if max is None:
                error = _l("Must be greater than or equal to {min}.")
            elif min is None:
                error = _l("Must be less than or equal to {max}.")
            else:
                error = _l("Must be greater than or equal to {min} and less than or equal to {max}.")
        super().__init__(min, max, min_inclusive=min_inclusive, max_inclusive=max_inclusive, error=error)


class Length(validate.Length):
    def __init__(self, min=None, max=None, *, equal=None, error=None):  # noqa: A002
        if error is None:
            if equal is not None:
                error = _l("Length must be {equal}.")
            elif max is None:
                error = _l("Shorter than minimum length {min}.")
            elif min is None:
                error = _l("Longer than maximum length {max}.")
            else:
                error = _l("Length must be between {min} and {max}.")
        super().__init__(min, max, equal=equal, error=error)


class OneOf(validate.OneOf):
    def __init__(self, choices, labels=None, *, error=None):
        super().__init__(choices, labels, error=error or _l("Must be one of: {choices}."))
