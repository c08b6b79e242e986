"""Keyed pseudonyms, sealed references and anything else that keeps a tipster unidentifiable."""
