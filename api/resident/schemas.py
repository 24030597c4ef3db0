"""The resident's account figures and data-source consent."""
import marshmallow as ma

from api.identity.schemas import UserSchema
from api.schemas_common import LocalDateTime


class AccountSchema(ma.Schema):
    number = ma.fields.String()
    balance_g = ma.fields.Integer()
    pending_g = ma.fields.Integer()
    issued_total_g = ma.fields.Integer()
    spent_g = ma.fields.Integer(metadata={"description": "sent away: transfers and coupon claims"})
    retired_g = ma.fields.Integer()
    revoked_g = ma.fields.Integer()
    donated_g = ma.fields.Integer(metadata={"description": "given to the pool (碳普惠池)"})
    frozen = ma.fields.Boolean()


class MeSchema(ma.Schema):
    user = ma.fields.Nested(UserSchema)
    account = ma.fields.Nested(AccountSchema, allow_none=True)


class SourceSchema(ma.Schema):
    code = ma.fields.String()
    name = ma.fields.String()
    kind = ma.fields.String()


class AuthorizationSchema(ma.Schema):
    code = ma.fields.Function(lambda grant: grant.source.code)
    name = ma.fields.Function(lambda grant: grant.source.name)
    kind = ma.fields.Function(lambda grant: grant.source.kind)
    authorized_at = LocalDateTime(attribute="granted_at")


class AuthorizationListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(AuthorizationSchema))


class SourceListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(SourceSchema))
