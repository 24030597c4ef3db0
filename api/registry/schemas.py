"""Registry schemas: batches, transfers, retirements, traces, ledger lines, audit records."""
import marshmallow as ma

from accounting.ledger import serials
from api.events_schemas import EventSchema
from api.schemas_common import BoundedDate, LocalDateTime, Text, TrimmedString
from api.translated_validators import Length, Range

AMOUNT = ma.fields.Integer(required=True, strict=True, validate=Range(1, 10**12))
MAX_SERIAL = 10**12  # a unit's number within its batch (the API's and the console's revocation forms)


class BatchSchema(ma.Schema):
    id = ma.fields.Integer()
    serial_prefix = ma.fields.String()
    methodology_version_id = ma.fields.Integer()
    vintage = ma.fields.Date()
    batch_no = ma.fields.Integer()
    status = ma.fields.String()
    quantity_g = ma.fields.Integer()
    capped_g = ma.fields.Integer()
    accounts_count = ma.fields.Integer()
    events_count = ma.fields.Integer()
    proposed_at = LocalDateTime()
    proposed_by = ma.fields.Integer(allow_none=True)
    approved_at = LocalDateTime(allow_none=True)
    approved_by = ma.fields.Integer(allow_none=True)
    auto_approved = ma.fields.Boolean()
    decision_note = ma.fields.String(allow_none=True)
    issued_at = LocalDateTime(allow_none=True)


class TopAccountSchema(ma.Schema):
    account_number = ma.fields.String()
    quantity_g = ma.fields.Integer()


class BatchDetailSchema(BatchSchema):
    top_accounts = ma.fields.List(ma.fields.Nested(TopAccountSchema))
    capped_share = ma.fields.Float(metadata={"description": "capped_g ÷ (quantity_g + capped_g), for review"})
    sample_events = ma.fields.List(ma.fields.Nested(EventSchema))


class BatchPageSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(BatchSchema))
    next_cursor = ma.fields.String(allow_none=True)


class ProposeSchema(ma.Schema):
    date = BoundedDate(required=True, metadata={"description": "the Asia/Shanghai day to issue"})


class DecisionSchema(ma.Schema):
    note = TrimmedString(load_default=None, validate=Length(max=200))


class TransferSchema(ma.Schema):
    to_account_number = Text(required=True, validate=Length(1, 12))
    amount_g = AMOUNT
    memo = TrimmedString(load_default=None, validate=Length(max=200))


class MovementSchema(ma.Schema):
    id = ma.fields.Integer(attribute="transaction_id")
    amount_g = ma.fields.Integer()
    serials = ma.fields.Function(lambda movement: [r.serials for r in movement.ranges])


class RetireSchema(ma.Schema):
    amount_g = AMOUNT
    beneficiary = TrimmedString(required=True, validate=Length(1, 100))
    purpose = TrimmedString(required=True, validate=Length(1, 200))


class RetirementSchema(ma.Schema):
    id = ma.fields.Integer()
    number = ma.fields.String()
    amount_g = ma.fields.Integer()
    beneficiary = ma.fields.String()
    purpose = ma.fields.String()
    created_at = LocalDateTime()
    serials = ma.fields.List(ma.fields.String())
    certificate_url = ma.fields.String()


class LedgerLineSchema(ma.Schema):
    id = ma.fields.Integer()
    type = ma.fields.String()
    amount_g = ma.fields.Integer()
    transaction_id = ma.fields.Integer()
    serials = ma.fields.List(ma.fields.String())
    memo = ma.fields.String(allow_none=True)
    at = LocalDateTime()


class LedgerPageSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(LedgerLineSchema))
    next_cursor = ma.fields.String(allow_none=True)


class HolderStepSchema(ma.Schema):
    transaction_id = ma.fields.Integer()
    type = ma.fields.String()
    at = LocalDateTime()
    account_number = ma.fields.String()
    account_kind = ma.fields.String()


class BlockSchema(ma.Schema):
    id = ma.fields.Integer()
    first_serial = ma.fields.Integer()
    last_serial = ma.fields.Integer()
    status = ma.fields.String()


class ArchivedMonthSchema(ma.Schema):
    month = ma.fields.String(metadata={"description": "YYYY-MM (Asia/Shanghai)"})
    file_name = ma.fields.String(metadata={"description": "the compressed file the month's events are in"})


class TraceSchema(ma.Schema):
    serial = ma.fields.String()
    batch = ma.fields.Nested(BatchSchema)
    block = ma.fields.Nested(BlockSchema)
    holders = ma.fields.List(ma.fields.Nested(HolderStepSchema))
    event = ma.fields.Nested(EventSchema, allow_none=True,
                             metadata={"description": "null while the batch's month is archived"})
    events_archived = ma.fields.Nested(ArchivedMonthSchema, allow_none=True,
                                       metadata={"description": "where the events are while archived"})


class InvariantSchema(ma.Schema):
    invariant = ma.fields.String()
    ok = ma.fields.Boolean()
    violations = ma.fields.Integer()
    examples = ma.fields.List(ma.fields.String())
    sealed = ma.fields.Integer()
    head_hash = ma.fields.String(allow_none=True)
    unsealed = ma.fields.Integer()
    oldest_unsealed_seconds = ma.fields.Float()


class VerifySchema(ma.Schema):
    ok = ma.fields.Boolean()
    invariants = ma.fields.List(ma.fields.Nested(InvariantSchema))


class AuditRecordSchema(ma.Schema):
    id = ma.fields.Integer()
    seq = ma.fields.Integer(allow_none=True)
    actor = ma.fields.String()
    action = ma.fields.String()
    subject = ma.fields.String()
    payload = ma.fields.Dict()
    payload_digest = ma.fields.String()
    created_at = LocalDateTime()
    prev_hash = ma.fields.String(allow_none=True)
    hash = ma.fields.String(allow_none=True)
    sealed_at = LocalDateTime(allow_none=True)


class AuditPageSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(AuditRecordSchema))
    next_cursor = ma.fields.String(allow_none=True)


class RevokeSchema(ma.Schema):
    serial_prefix = Text(required=True, validate=ma.validate.Regexp(serials.PREFIX))
    first = ma.fields.Integer(required=True, strict=True, validate=Range(1, MAX_SERIAL))
    last = ma.fields.Integer(required=True, strict=True, validate=Range(1, MAX_SERIAL))
    reason = TrimmedString(required=True, validate=Length(1, 200))


class RevocationSchema(ma.Schema):
    batch = ma.fields.String()
    first = ma.fields.Integer()
    last = ma.fields.Integer()
    revoked_g = ma.fields.Integer()
    not_moved_g = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())
    transactions = ma.fields.List(ma.fields.Integer())


class ReasonSchema(ma.Schema):
    reason = TrimmedString(required=True, validate=Length(1, 200))


class AccountStateSchema(ma.Schema):
    number = ma.fields.String()
    balance_g = ma.fields.Integer()
    frozen = ma.fields.Function(lambda account: account.frozen_at is not None)


class CheckpointSchema(ma.Schema):
    """A head of the audit chain as written down outside the database."""

    seq = ma.fields.Integer(required=True)
    hash = ma.fields.String(required=True)
    sealed_at = ma.fields.String(required=True, metadata={"description": "ISO 8601, UTC"})
