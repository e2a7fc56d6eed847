"""The workers that move messages between topics: ingress -> (validate, route) -> outbox and events."""
