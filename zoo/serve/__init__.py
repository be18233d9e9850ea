"""Serving: raw-text SavedModel export, int8 quantization, decoding and predictions."""
