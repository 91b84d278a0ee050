"""Moderation (``sensitive_word_avoidance``): refuse or replace content before and after the model."""
