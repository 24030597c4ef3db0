"""Idempotency-Key on POSTs: the same key and body replays the first answer; another body is 422.

The record is written in the same transaction as the effect it remembers, so either both
land or neither does; two concurrent requests with one key meet at the primary key and
the loser replays the winner's answer.
"""
from functools import wraps

import marshmallow as ma
from flask import Response, request
from flask_jwt_extended import get_jwt
from sqlalchemy import Integer, LargeBinary, String
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from accounting.errors import DomainError
from accounting.ledger.idempotency import request_hash
from api.translated_validators import Length
from config.db_types import UTCDateTime, utcnow
from config.extensions import db

MAX_KEY_LENGTH = 128
KEY_LENGTH = Length(max=MAX_KEY_LENGTH)


class IdempotencyRecord(db.Model):
    __tablename__ = "idempotency_records"

    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(100))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at = mapped_column(UTCDateTime, nullable=False, default=utcnow, index=True)


def _replay(record: IdempotencyRecord, request_hash: str) -> Response:
    if record.request_hash != request_hash:
        raise DomainError("idempotency_key_reused")
    response = Response(record.body, status=record.status_code, content_type=record.content_type)
    response.headers["Idempotent-Replayed"] = "true"
    return response


def idempotent(view):
    """Honour `Idempotency-Key` for a view that runs after the JWT check."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        key = request.headers.get("Idempotency-Key")
        if not key:
            return view(*args, **kwargs)
        try:
            KEY_LENGTH(key)
        except ma.ValidationError as error:  # marshmallow's message, in the request's language
            raise DomainError("validation_failed", errors={"Idempotency-Key": error.messages}) from None
        scope = f"user:{get_jwt()['sub']}"
        this_request = request_hash(request.method, request.path, request.get_data(cache=True))
        existing = db.session.get(IdempotencyRecord, (scope, key))
        if existing is not None:
            return _replay(existing, this_request)
        response = view(*args, **kwargs)
        if response.status_code >= 400:
            return response  # refusals are not remembered: the client may correct and retry
        record = IdempotencyRecord(
            scope=scope, key=key, request_hash=this_request, status_code=response.status_code,
            content_type=response.content_type, body=response.get_data(),
        )
        try:
            with db.session.begin_nested():
                db.session.add(record)
        except IntegrityError:
            db.session.rollback()  # a concurrent request with this key won; drop our effects
            return _replay(db.session.get(IdempotencyRecord, (scope, key)), this_request)
        return response

    # The OpenAPI document declares the Idempotency-Key header on exactly the views marked so.
    wrapper.honours_idempotency_key = True
    return wrapper
