"""The app's shape: the same URLs as ever, and no route handed the whole Runtime."""

from __future__ import annotations

import typing
from collections.abc import Iterator
from types import ModuleType

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from hub.api import (
    audit_events,
    dead_letters,
    fhir_subscriptions,
    figures,
    health,
    mailbox,
    metrics,
    operator,
    process_message,
    subscriptions,
)
from hub.app import create_app, running_hub
from hub.runtime import Runtime
from hub.settings import HubSettings

URLS = {
    "/fhir/$process-message": ["post"],
    "/api/messages": ["get"],
    "/api/messages/{tracking_id}": ["get"],
    "/api/messages/{tracking_id}/patient": ["get"],
    "/api/audit/reads": ["get"],
    "/api/figures": ["get"],
    "/fhir/AuditEvent": ["get"],
    "/fhir/AuditEvent/{audit_event_id}": ["get"],
    "/api/receivers": ["get"],
    "/api/subscriptions": ["get", "post"],
    "/api/subscriptions/{subscription_id}": ["delete", "get"],
    "/api/subscriptions/{subscription_id}/pause": ["post"],
    "/api/subscriptions/{subscription_id}/resume": ["post"],
    "/fhir/SubscriptionTopic": ["get"],
    "/fhir/SubscriptionTopic/{topic_id}": ["get"],
    "/fhir/Subscription/{subscription_id}/$status": ["get", "post"],
    "/fhir/Subscription/{subscription_id}/$events": ["get", "post"],
    "/fhir/Bundle/{bundle_id}": ["get"],
    "/fhir/Subscription": ["get", "post"],
    "/fhir/Subscription/{subscription_id}": ["delete", "get", "put"],
    "/api/dead-letters": ["get"],
    "/api/dead-letters/{dead_letter_id}/redrive": ["post"],
    "/api/dead-letters/redrive": ["post"],
    "/mailbox": ["get"],
    "/mailbox/{item_id}": ["get"],
    "/mailbox/{item_id}/ack": ["post"],
    "/healthz": ["get"],
    "/readyz": ["get"],
    "/metrics": ["get"],
}


def test_the_app_serves_the_same_urls() -> None:
    paths = create_app(HubSettings(_env_file=None)).openapi()["paths"]
    assert {path: sorted(operations) for path, operations in paths.items()} == URLS


def test_running_hub_is_an_async_context_manager() -> None:
    assert callable(running_hub(HubSettings(_env_file=None)).__aenter__)  # not entered: that starts a broker


def _calls(dependant: Dependant) -> Iterator[object]:
    for dependency in dependant.dependencies:
        yield dependency.call
        yield from _calls(dependency)


def _takes_the_runtime(call: object) -> bool:
    hints = typing.get_type_hints(call, include_extras=True) if callable(call) else {}
    return any(Runtime in (hint, *typing.get_args(hint)) for hint in hints.values())


def test_a_dependency_that_takes_the_runtime_is_seen() -> None:
    async def whole(runtime: Runtime) -> None: ...

    async def narrow(settings: HubSettings) -> None: ...

    assert _takes_the_runtime(whole) and not _takes_the_runtime(narrow)


@pytest.mark.parametrize(
    "module",
    [
        process_message,
        operator,
        figures,
        audit_events,
        subscriptions,
        fhir_subscriptions,
        dead_letters,
        mailbox,
        health,
        metrics,
    ],
    ids=lambda m: m.__name__,
)
def test_no_route_takes_the_runtime(module: ModuleType) -> None:
    routes = [route for route in module.router.routes if isinstance(route, APIRoute)]
    assert routes
    for route in routes:
        taking = [call for call in (route.endpoint, *_calls(route.dependant)) if _takes_the_runtime(call)]
        assert taking == [], f"{route.path} depends on the whole Runtime"
