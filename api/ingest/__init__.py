"""Data sources' signed bulk reports."""
