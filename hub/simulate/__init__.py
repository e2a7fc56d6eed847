"""Simulated traffic for the demo and the benchmarks: a generator of fictional MedCom messages."""

from hub.messages.hospital_notification import HOSPITAL_NOTIFICATION_EVENTS
from hub.simulate.generator import MessageGenerator

__all__ = ["HOSPITAL_NOTIFICATION_EVENTS", "MessageGenerator"]
