"""Classifiers: relevance, partner countries and health domains (no feeds, no database)."""
