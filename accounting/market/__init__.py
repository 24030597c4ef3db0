"""交易: credits for money between organizations (MARKET.md), beside the registry's ledger."""
