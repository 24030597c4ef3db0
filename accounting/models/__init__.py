"""Registry and record tables; importing this package registers them on the metadata."""
from accounting.models.audit import AuditRecord
from accounting.models.events import GreenEvent
from accounting.models.holders import Account, Holder
from accounting.models.methodologies import Methodology, MethodologyVersion
from accounting.models.registry import (
    BatchLine, BlockMovement, CreditBlock, IssuanceBatch, JournalEntry, JournalTransaction, Retirement,
)
from accounting.models.review import DailyTally, ReviewFlag
from accounting.models.sources import DataSource, SourceAuthorization, Station

__all__ = [
    "Account", "AuditRecord", "BatchLine", "BlockMovement", "CreditBlock", "IssuanceBatch", "JournalEntry",
    "JournalTransaction", "Retirement", "DailyTally", "DataSource", "GreenEvent", "Holder", "Methodology", "MethodologyVersion",
    "ReviewFlag", "SourceAuthorization", "Station",
]
