"""Uploaded files: content sniffing, storage backends and safe fetching (SPEC §8)."""
