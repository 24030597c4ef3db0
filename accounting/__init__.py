"""The accounting service, in domain folders stacked so imports only point down:
issuance → quantification → record → ledger (each may import those after it, and the
few modules at this top: errors, business_day)."""
