"""Connectors: how messages enter the hub. They authenticate, translate and publish; they never route."""
