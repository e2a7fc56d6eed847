"""Profiles (MedCom and the hub's own): cardinality, fixed/pattern values, bindings, slicing, invariants."""

from __future__ import annotations

from typing import Any


def prepare_profiles(rules: Any, raw: dict[str, Any], invariant: Any) -> dict[str, Any]:
    return raw
