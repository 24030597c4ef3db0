"""Registry and record tables; importing this package registers them on the metadata."""
from accounting.models.events import GreenEvent
from accounting.models.holders import Account, Holder
from accounting.models.sources import DataSource, SourceAuthorization, Station

__all__ = ["Account", "DataSource", "GreenEvent", "Holder", "SourceAuthorization", "Station"]
