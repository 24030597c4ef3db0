"""The registry's ledger (登记, 管理): holders and accounts, serial blocks, the movement primitive,
the audit log and the invariants' verification. The bottom of accounting: it imports nothing
above it."""
