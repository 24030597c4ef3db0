"""Issuance (签发): a day's verified reductions become batches of serial-numbered credits; tracing a
unit back to its actions; revoking ranges of a batch."""
