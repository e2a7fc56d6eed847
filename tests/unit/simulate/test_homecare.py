"""The generator's HomeCareObservations: valid by the hub's validator, from the municipality to the GP only,
deterministic with a seed."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from hub.domain import homecare
from hub.domain.message import OrganisationRef, read_facts
from hub.simulate.generator import MessageGenerator
from hub.validate import Validator

MUNICIPALITY = OrganisationRef(sor="355461000016000", gln="5790000535361", name="Aarhus Kommune")
GP = OrganisationRef(sor="483511000016005", gln="5790000233281", name="Lægerne i Viby")
NOW = datetime(2025, 3, 4, 10, 30, tzinfo=UTC)


def test_every_generated_message_is_valid() -> None:
    generator, validator = MessageGenerator(seed=5), Validator()
    for _ in range(25):
        message = generator.homecare_observation(sender=MUNICIPALITY, receiver=GP, now=NOW)
        verdict = validator.validate(orjson.dumps(message))
        assert [(i.code, i.expression, i.diagnostics) for i in verdict.issues if i.is_error] == []


def test_it_is_addressed_to_the_gp_alone_with_the_results_as_focus() -> None:
    message = MessageGenerator(seed=1).homecare_observation(sender=MUNICIPALITY, receiver=GP, now=NOW)
    facts = read_facts(message)
    assert facts.event == homecare.HOMECARE_OBSERVATION_EVENT
    assert [(d.use, d.organisation.sor if d.organisation else None) for d in facts.destinations] == [
        ("primary", GP.sor)
    ]
    header = message["entry"][0]["resource"]
    assert header["definition"] == homecare.HOMECARE_OBSERVATION_DEFINITION
    assert header["focus"][0]["reference"].startswith("DiagnosticReport/")


def test_a_seed_makes_the_same_message() -> None:
    def make() -> bytes:
        return orjson.dumps(MessageGenerator(seed=9).homecare_observation(sender=MUNICIPALITY, receiver=GP, now=NOW))

    assert make() == make()
