"""Corpus preparation for zoo-prep: cleaning, deduplication and validation splits."""
