"""交易: the pool and, later, the market between organizations (MARKET.md)."""
