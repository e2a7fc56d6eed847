"""The domain model: message facts, outcomes, identifiers and lifecycles.

Imported by all; imports nothing else of the hub.
"""
