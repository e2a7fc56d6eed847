"""Simulated traffic for the demo and the benchmarks: a generator of fictional MedCom messages."""

from hub.simulate.generator import MessageGenerator
from hub.simulate.parts import HOSPITAL_NOTIFICATION_EVENTS

__all__ = ["HOSPITAL_NOTIFICATION_EVENTS", "MessageGenerator"]
