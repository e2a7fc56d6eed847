"""Who reads and repairs the hub: named operators with a role, and the organisations' own systems.

The roles nest: an operator may do all a viewer may, an administrator all an operator may.

- viewer: watches the traffic (messages, timelines, receivers, figures), never a patient identifier;
- operator: also repairs (redrive dead letters, pause and resume subscriptions), and sees patients as the API
  shows them (birth date), and may search by CPR number (each such read audited);
- administrator: also changes the register's subscriptions and may see personal data (the CPR number itself,
  the audit of reads resolved to patients), every such read audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMINISTRATOR = "administrator"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, needed: Role) -> bool:
        """This role may do what ``needed`` may."""
        return self.rank >= needed.rank


_RANKS = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMINISTRATOR: 2}


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is reading: an operator (``organisation_id`` None, sees every message, within its role) or one
    organisation's system, which sees only the messages it sent or received.

    ``person`` is who the audit of reads names: the operator's own name (a JWT's subject, a name in the
    operator token file, ``operator`` for the one shared ``HUB_OPERATOR_TOKEN``), or the organisation's id.
    ``address`` is where the request came from (the client's address), also for the audit."""

    organisation_id: str | None = None
    person: str = "operator"
    role: Role = Role.ADMINISTRATOR
    address: str | None = None

    @property
    def is_operator(self) -> bool:
        return self.organisation_id is None

    def may(self, needed: Role) -> bool:
        """An operator whose role allows ``needed``; an organisation's system has no operator role."""
        return self.is_operator and self.role.allows(needed)

    @property
    def sees_patients(self) -> bool:
        """Patients shown as the API shows them (birth date): an operator from the operator role up, and an
        organisation for its own messages; a viewer sees no patient identifier at all."""
        return not self.is_operator or self.role.allows(Role.OPERATOR)
