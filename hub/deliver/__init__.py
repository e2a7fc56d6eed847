"""Delivery: handing each routed message to its receiver's system or mailbox, with retries."""
