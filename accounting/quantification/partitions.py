"""Daily tallies by month (migrations/versions/0013): the months ahead exist before their first tally.

The DEFAULT partition is only a safety net: a tally of a month nobody created lands there, and
the next run moves it into its own month. Created through the tables' owner's function, which
the app's role may call and nothing more (it may not drop or detach a month).
"""
from sqlalchemy import text


def ensure_tally_partitions(session, ahead: int) -> list[str]:
    """Create the months up to `ahead` after this one (and any the DEFAULT partition caught); the new ones."""
    return list(session.scalars(text("SELECT daily_tallies_ensure_partitions(:ahead)"), {"ahead": ahead}))
