"""Readers, tokenizers and input pipelines."""
