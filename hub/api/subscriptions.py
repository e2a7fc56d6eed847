"""Operators manage subscriptions: who gets which messages besides the MedCom destinations.

Every change takes effect for the next message the hub routes (the live index is replaced before the
answer is sent). A subscription that could never deliver is refused (400 naming the field), and so is one the
register file's subscription policy does not allow (400 naming the rule); an accepted one shows its basis.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from hub.api.deps import OperatorDep, RepairerDep, SubscriptionsDep, WatcherDep
from hub.api.params import Text, without_nul
from hub.api.responses import OutcomeError
from hub.route.subscription import (
    Subscription,
    SubscriptionError,
    SubscriptionRefused,
    SubscriptionStatus,
    subscription_from_dict,
)
from hub.route.subscription_store import SubscriptionExists, SubscriptionService

LONGEST_CRITERIA = 4000  # characters of FHIRPath in one subscription's criteria
FhirPathText = Annotated[str, StringConstraints(max_length=LONGEST_CRITERIA), AfterValidator(without_nul)]

router = APIRouter(prefix="/api/subscriptions", tags=["subscriptions"])


class FiltersBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    municipality_code: Text | None = Field(default=None, description="the patient lives here (kommunekode, 3 digits)")
    gp_list: Text | None = Field(
        default=None, description="the patient is listed at this GP practice (register id; 'self': the receiver)"
    )
    sender: Text | None = Field(default=None, description="register id of the sending organisation")
    activity: list[Text] = Field(default_factory=list, description="Provenance activity codes (any of them)")
    criteria: FhirPathText | None = Field(default=None, description="FHIRPath on the message Bundle")


class SubscriptionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Text | None = Field(default=None, description="chosen by the hub when left out")
    receiver: Text = Field(description="register id of the subscriber")
    topic: Text = Field(description="a MedCom event code, or '*' for every event except acknowledgements")
    filters: FiltersBody = Field(default_factory=FiltersBody)
    status: SubscriptionStatus = SubscriptionStatus.ACTIVE
    reason: Annotated[str, AfterValidator(without_nul)] = ""


def _bad(exc: SubscriptionError) -> OutcomeError:
    if isinstance(exc, SubscriptionRefused):  # outside the subscription policy: the message names the rule
        return OutcomeError(400, "business-rule", exc.field, f"outside the subscription policy: {exc.message}")
    code = "not-found" if "not in the endpoint register" in exc.message else "invalid"
    return OutcomeError(400, code, exc.field, exc.message)


def _not_found(subscription_id: str) -> OutcomeError:
    return OutcomeError(404, "not-found", None, f"no subscription with id {subscription_id}")


@router.post("", status_code=201)
async def create_subscription(body: SubscriptionBody, service: SubscriptionsDep, _: OperatorDep) -> dict[str, Any]:
    """Create a subscription; 400 with an OperationOutcome naming the faulty field (or the subscription-policy rule
    it breaks), 409 when the id is taken. The answer shows the basis: the policy rule that allows it."""
    data = body.model_dump(exclude_none=True, mode="json")
    data.setdefault("id", service.new_id())
    try:
        subscription = subscription_from_dict(data)
        stored = await service.create(subscription)
    except SubscriptionError as exc:
        raise _bad(exc) from exc
    except SubscriptionExists as exc:
        raise OutcomeError(409, "duplicate", "id", str(exc)) from exc
    return stored.as_json()


@router.get("")
async def list_subscriptions(
    service: SubscriptionsDep,
    _: WatcherDep,
    receiver: Annotated[Text | None, Query(description="register id of the subscriber")] = None,
    status: SubscriptionStatus | None = None,
) -> dict[str, Any]:
    """Every subscription (active and paused), oldest first; `active_in_index` counts those routing now."""
    found = await service.store.list(receiver=receiver, status=status)
    return {
        "total": len(found),
        "active_in_index": len(service.live.index),
        "subscriptions": [s.as_json() for s in found],
    }


@router.get("/{subscription_id}")
async def get_subscription(subscription_id: Text, service: SubscriptionsDep, _: WatcherDep) -> dict[str, Any]:
    found = await service.store.get(subscription_id)
    if found is None:
        raise _not_found(subscription_id)
    return found.as_json()


async def _set_status(service: SubscriptionService, subscription_id: str, status: SubscriptionStatus) -> Subscription:
    try:
        changed = await service.set_status(subscription_id, status)
    except SubscriptionError as exc:
        raise OutcomeError(
            409, "business-rule", exc.field, f"the subscription no longer fits the register: {exc.message}"
        ) from exc
    if changed is None:
        raise _not_found(subscription_id)
    return changed


@router.post("/{subscription_id}/pause")
async def pause_subscription(subscription_id: Text, service: SubscriptionsDep, _: RepairerDep) -> dict[str, Any]:
    """The subscriber gets no more messages through this subscription until it is resumed."""
    return (await _set_status(service, subscription_id, SubscriptionStatus.PAUSED)).as_json()


@router.post("/{subscription_id}/resume")
async def resume_subscription(subscription_id: Text, service: SubscriptionsDep, _: RepairerDep) -> dict[str, Any]:
    return (await _set_status(service, subscription_id, SubscriptionStatus.ACTIVE)).as_json()


@router.delete("/{subscription_id}", status_code=204)
async def delete_subscription(subscription_id: Text, service: SubscriptionsDep, _: OperatorDep) -> Response:
    if not await service.delete(subscription_id):
        raise _not_found(subscription_id)
    return Response(status_code=204)
