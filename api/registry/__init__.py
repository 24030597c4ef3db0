"""The registry's API: issuance batches, transfers, retirements, tracing, verification, audit log."""
