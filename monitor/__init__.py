"""Health-cooperation news monitor: fetch, extract, dedupe, classify, store."""

__version__ = "0.1.0"
