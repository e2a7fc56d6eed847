"""Tracking: the steps of every message, published to the events topic and projected into a store."""
