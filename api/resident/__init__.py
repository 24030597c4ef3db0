"""The resident's own carbon account: figures, trips, events, consent to data sources."""
