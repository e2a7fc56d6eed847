"""What a subscription may say about each message kind (MedCom event code): the Provenance activity codes its
messages carry, and a few realistic messages of that kind to try a FHIRPath criterion on before accepting it.

Both are shipped under ``schemas/`` (see schemas/SOURCES.md) and read once per process:

- the activity codes per event from MedCom's ValueSets in ``schemas/medcom/`` (terminology 2.0.1):
  HospitalNotification's messageActivities, CareCommunication's messagingActivities, HomeCareObservation's
  messagingActivities, and for the generic empty message the whole medcom-messaging-activityCodes;
  the hub's own message types (``sektorhub-*``) are new, modified or retracted (:data:`OWN_EVENT_ACTIVITIES`), and
  a discharge letter's or medication update's copy to its cc receiver is a carboncopy-message;
- the trial messages per event from ``schemas/trial-messages/<event code>/*.json``: MedCom's official examples
  (narratives removed) and the hub's own samples.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any, Final

import orjson

from hub.domain import medcom, sektorhub
from hub.route.criteria import Criterion, TrialMessage, trial_problem

SCHEMAS_DIR: Final = Path(__file__).resolve().parents[2] / "schemas"
TRIAL_MESSAGES_DIR: Final = "trial-messages"

# event code -> the ValueSet file (schemas/medcom/) whose codes its Provenance.activity may have
ACTIVITY_VALUESETS: Final = {
    medcom.HOSPITAL_NOTIFICATION_EVENT: "ValueSet-medcom-hospitalNotification-messageActivities.json",
    medcom.CARE_COMMUNICATION_EVENT: "ValueSet-medcom-careCommunication-messagingActivities.json",
    "homecareobservation-message": "ValueSet-medcom-HomeCareObservation-messagingActivities.json",
    "empty-message": "ValueSet-medcom-messaging-activityCodes.json",
}
# the hub's own message types: a referral, a discharge letter or a medication update is new, corrected or withdrawn
# (the referral profile's invariant sektorhub-ref-1 names exactly these three)
OWN_EVENT_ACTIVITIES: Final = frozenset(
    {medcom.NEW_MESSAGE_ACTIVITY, medcom.MODIFIED_MESSAGE_ACTIVITY, medcom.RETRACT_MESSAGE_ACTIVITY}
)
# and those with a cc receiver (discharge letter, medication update) send it a carbon copy, a message of its own
OWN_EVENTS_WITH_COPIES: Final = frozenset({sektorhub.DISCHARGE_LETTER_EVENT, sektorhub.MEDICATION_UPDATE_EVENT})
WILDCARD: Final = "*"


def valueset_codes(document: Any, system: str = medcom.ACTIVITY_CODE_SYSTEM) -> frozenset[str]:
    """The codes of `system` a ValueSet's compose includes, less those it excludes (concept lists only)."""
    if not isinstance(document, dict) or document.get("resourceType") != "ValueSet":
        raise ValueError("not a FHIR ValueSet")
    compose = document.get("compose") or {}

    def codes(part: str) -> set[str]:
        return {
            concept["code"]
            for entry in compose.get(part) or []
            if entry.get("system") == system
            for concept in entry.get("concept") or []
        }

    included = codes("include") - codes("exclude")
    if not included:
        raise ValueError(f"the ValueSet lists no codes of {system}")
    return frozenset(included)


class EventCatalogue:
    """Per event code: the activity codes its messages may carry, and its trial messages."""

    def __init__(
        self,
        activities: Mapping[str, frozenset[str]] | None = None,
        trials: Mapping[str, tuple[TrialMessage, ...]] | None = None,
    ) -> None:
        self.activities = dict(activities or {})
        self.trials = dict(trials or {})
        self._problems: dict[tuple[str, str], str | None] = {}

    def activity_codes(self, topic: str) -> frozenset[str] | None:
        """The activity codes a subscription to `topic` may filter on (``*``: those of every event but
        acknowledgements); None when the catalogue does not know the event's codes."""
        if topic == WILDCARD:
            known = [codes for event, codes in self.activities.items() if event != medcom.ACKNOWLEDGEMENT_EVENT]
            return frozenset().union(*known) if known else None
        return self.activities.get(topic)

    def trial_messages(self, topic: str) -> tuple[TrialMessage, ...]:
        """The realistic messages a criterion on `topic` is tried on (``*``: those of every event)."""
        if topic == WILDCARD:
            return tuple(
                m for event in sorted(self.trials) if event != medcom.ACKNOWLEDGEMENT_EVENT for m in self.trials[event]
            )
        return self.trials.get(topic, ())

    def criterion_problem(self, expression: str, criterion: Criterion, topic: str) -> str | None:
        """Why the criterion cannot be used on messages of `topic`, or None (it held up on every trial message).

        Tried once per expression and topic (identical expressions share their compiled criterion), however many
        subscriptions and index rebuilds there are.
        """
        key = (expression, topic)
        if key not in self._problems:
            self._problems[key] = trial_problem(criterion, self.trial_messages(topic))
        return self._problems[key]


def load_event_catalogue(schemas_dir: Path, own_events: Iterable[str] = sektorhub.EVENTS) -> EventCatalogue:
    """Read the activity ValueSets and the trial messages shipped under `schemas_dir`."""
    activities: dict[str, frozenset[str]] = {}
    for event, name in ACTIVITY_VALUESETS.items():
        path = schemas_dir / "medcom" / name
        try:
            activities[event] = valueset_codes(orjson.loads(path.read_bytes()))
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from exc
    for event in own_events:
        copies = {medcom.CARBON_COPY_ACTIVITY} if event in OWN_EVENTS_WITH_COPIES else set()
        activities[event] = OWN_EVENT_ACTIVITIES | copies
    trials: dict[str, tuple[TrialMessage, ...]] = {}
    for folder in sorted(p for p in (schemas_dir / TRIAL_MESSAGES_DIR).iterdir() if p.is_dir()):
        messages = []
        for path in sorted(folder.glob("*.json")):
            bundle = orjson.loads(path.read_bytes())
            if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
                raise ValueError(f"{path} is not a FHIR Bundle")
            messages.append(TrialMessage(f"{folder.name}/{path.name}", bundle))
        trials[folder.name] = tuple(messages)
    return EventCatalogue(activities, trials)


@cache
def shipped_event_catalogue() -> EventCatalogue:
    """The catalogue of the files shipped in the repository's ``schemas/`` (read once per process)."""
    return load_event_catalogue(SCHEMAS_DIR)
