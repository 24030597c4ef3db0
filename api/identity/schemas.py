"""Sign-up, sign-in and token schemas."""
import marshmallow as ma

from api.schemas_common import DISTRICTS, PHONE, Text, TrimmedString
from api.translated_validators import Length, OneOf


class RegisterSchema(ma.Schema):
    phone = Text(required=True, validate=PHONE)
    password = Text(required=True, load_only=True, validate=Length(8, 128))
    display_name = TrimmedString(required=True, validate=Length(1, 32))
    district = Text(load_default=None, validate=OneOf(DISTRICTS))


class LoginSchema(ma.Schema):
    phone = TrimmedString(required=True, validate=Length(1, 20))
    password = Text(required=True, load_only=True, validate=Length(1, 128))


class UserSchema(ma.Schema):
    id = ma.fields.Integer()
    role = ma.fields.String()
    phone_masked = ma.fields.String()
    display_name = ma.fields.String()


class AccountBriefSchema(ma.Schema):
    number = ma.fields.String()
    balance_g = ma.fields.Integer()


class RegisteredSchema(ma.Schema):
    user = ma.fields.Nested(UserSchema)
    account = ma.fields.Nested(AccountBriefSchema)
    access_token = ma.fields.String()
    refresh_token = ma.fields.String()


class LoggedInSchema(ma.Schema):
    user = ma.fields.Nested(UserSchema)
    access_token = ma.fields.String()
    refresh_token = ma.fields.String()


class AccessTokenSchema(ma.Schema):
    access_token = ma.fields.String()
