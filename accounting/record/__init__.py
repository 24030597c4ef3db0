"""The record (记录): data sources and residents' consent, and the green actions they report."""
