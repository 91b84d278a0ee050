"""Datasets (knowledge bases) and full-text retrieval for the pipeline's retrieval stage (SPEC §6.5)."""
