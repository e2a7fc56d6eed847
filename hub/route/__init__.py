"""Routing: the endpoint register and the pure decision of who receives a message."""
