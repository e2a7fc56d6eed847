"""The live subscriptions: the current index and patient register that the ingress worker matches
every message against, kept in step with the store by the subscription service.
"""

from __future__ import annotations

from typing import Any

from hub.domain.message import MessageFacts
from hub.route.patients import PatientRegister
from hub.route.subscription_index import SubscriptionIndex
from hub.route.subscription_matching import SubscriptionMatch, match


class LiveSubscriptions:
    """What the ingress worker reads for every message: the current index and the patient register.

    The index is replaced as a whole (never changed in place), so a message is matched against one
    consistent set of subscriptions.
    """

    def __init__(self, index: SubscriptionIndex | None = None, patients: PatientRegister | None = None) -> None:
        self.index = index or SubscriptionIndex()
        self.patients = patients or PatientRegister()

    def match(self, facts: MessageFacts, bundle: dict[str, Any], sender_id: str) -> list[SubscriptionMatch]:
        return match(self.index, facts, bundle, self.patients, sender_id)
