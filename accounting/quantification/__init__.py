"""Quantification (核算) and methodologies (备案): filed versions, the rules, caps and review, reports."""
