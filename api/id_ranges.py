"""Ids as the database holds them: a PostgreSQL `integer` column up to 2³¹−1, a `bigint` up to 2⁶³−1.

A larger id names nothing. In a path it answers 404 (the rule does not match), in a cursor or a
query 422; it never reaches the database, whose cast to the column's type would fail (a 500).
"""
from werkzeug.routing import IntegerConverter, ValidationError

INTEGER_MAX = 2**31 - 1
BIGINT_MAX = 2**63 - 1


class _BoundedIdConverter(IntegerConverter):
    MAX = BIGINT_MAX

    def __init__(self, map):  # noqa: A002  (werkzeug's name for it)
        super().__init__(map, max=self.MAX)  # flask-smorest documents the bound as the parameter's maximum

    def to_python(self, value: str) -> int:
        # int() refuses strings over 4,300 digits with a ValueError, which routing does not catch:
        # anything longer than the largest id is refused before it is converted.
        if len(value) > len(str(self.MAX)):
            raise ValidationError()
        return super().to_python(value)


class IntegerIdConverter(_BoundedIdConverter):
    """`<integer_id:name>`: the id of a row whose key is a PostgreSQL integer."""

    MAX = INTEGER_MAX


class BigintIdConverter(_BoundedIdConverter):
    """`<bigint_id:name>`: the id of a row whose key is a PostgreSQL bigint."""

    MAX = BIGINT_MAX


def register_id_converters(app) -> None:
    """Before any blueprint: rules are compiled, converters looked up, as they are added."""
    app.url_map.converters["integer_id"] = IntegerIdConverter
    app.url_map.converters["bigint_id"] = BigintIdConverter
