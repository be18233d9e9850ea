"""Evaluation: metrics, corpus metrics (BLEU), evaluation of a model_dir and the report."""
