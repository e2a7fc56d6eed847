"""The database tables of the hub: one schema for SQLite and PostgreSQL (SQLAlchemy Core)."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("tracking_id", sa.String(64), primary_key=True),
    sa.Column("message_id", sa.String(64), index=True),
    sa.Column("bundle_id", sa.String(64), index=True),  # a rest-hook subscriber reads GET /fhir/Bundle/<id>
    sa.Column("event", sa.String(64)),
    sa.Column("sender", sa.String(64)),
    sa.Column("patient", sa.String(16), index=True),
    sa.Column("connector", sa.String(16)),
    sa.Column("received_at", sa.String(40), index=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("routed", sa.Boolean, nullable=False, default=False),
    sa.Column("routing_failed", sa.Boolean, nullable=False, default=False),
    sa.Column("rejected", sa.Boolean, nullable=False, default=False),
    sa.Column("outcome", sa.Text),
    sa.Column("updated_at", sa.String(40), nullable=False),
    # the operator's lists are filtered by one of these and sorted newest first: with the time second in the
    # index, the newest page is read off the index instead of sorting every match (all acknowledged messages)
    sa.Index("ix_messages_status_received_at", "status", "received_at"),
    sa.Index("ix_messages_event_received_at", "event", "received_at"),
    sa.Index("ix_messages_sender_received_at", "sender", "received_at"),
)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("tracking_id", sa.String(64), primary_key=True),
    sa.Column("receiver", sa.String(64), primary_key=True, index=True),
    sa.Column("use", sa.String(16)),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("ack_code", sa.String(32)),
    sa.Column("overdue_count", sa.Integer, nullable=False, default=0),  # times flagged: no acknowledgement in time
    sa.Column("last_error", sa.Text),
    sa.Column("updated_at", sa.String(40), nullable=False),
    sa.Index("ix_deliveries_status_updated_at", "status", "updated_at"),  # the overdue-acknowledgement scan
)

steps = sa.Table(
    "steps",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("tracking_id", sa.String(64), index=True, nullable=False),
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("step", sa.String(32), nullable=False),
    sa.Column("receiver", sa.String(64)),
    sa.Column("detail", sa.Text),
)

mailbox = sa.Table(
    "mailbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("receiver", sa.String(64), index=True, nullable=False),
    sa.Column("tracking_id", sa.String(64), nullable=False),
    sa.Column("message_id", sa.String(64), nullable=False),
    sa.Column("event", sa.String(64)),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("fetched_at", sa.String(40)),
    sa.UniqueConstraint("receiver", "tracking_id", name="mailbox_one_copy_per_receiver"),
)

# The raw bytes of every accepted message, written before the sender is told "accepted": what the hub
# replays when the broker has lost its log.
archive = sa.Table(
    "archive",
    metadata,
    sa.Column("tracking_id", sa.String(64), primary_key=True),
    sa.Column("sender_sor", sa.String(32), nullable=False),
    sa.Column("connector", sa.String(16), nullable=False),
    sa.Column("received_at", sa.String(40), nullable=False, index=True),
    sa.Column("key", sa.LargeBinary, nullable=False),
    sa.Column("raw", sa.LargeBinary, nullable=False),
)

# Which receiver already has which message (by MessageHeader.id): the idempotency ledger of delivery.
handed_over = sa.Table(
    "handed_over",
    metadata,
    sa.Column("sender", sa.String(64), primary_key=True),  # message ids are unique per sender, not globally
    sa.Column("message_id", sa.String(64), primary_key=True),
    sa.Column("receiver", sa.String(64), primary_key=True),
    sa.Column("tracking_id", sa.String(64), nullable=False),
    sa.Column("at", sa.String(40), nullable=False),
)

# The acknowledgements receivers sent, kept to answer a resent message with the same acknowledgement.
acknowledgements = sa.Table(
    "acknowledgements",
    metadata,
    sa.Column("sender", sa.String(64), primary_key=True),  # who sent the acknowledged message
    sa.Column("message_id", sa.String(64), primary_key=True),  # the acknowledged message
    sa.Column("receiver", sa.String(64), primary_key=True),  # who acknowledged
    sa.Column("code", sa.String(32), nullable=False),
    sa.Column("raw", sa.LargeBinary, nullable=False),
    sa.Column("at", sa.String(40), nullable=False),
)

# Deliveries waiting for a receiver that did not take them: retried in order, from here, not from Kafka.
parked = sa.Table(
    "parked",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("receiver", sa.String(64), nullable=False, index=True),
    sa.Column("tracking_id", sa.String(64), nullable=False),
    sa.Column("message_id", sa.String(64), nullable=False),
    sa.Column("sender", sa.String(64), nullable=False),
    sa.Column("event", sa.String(64)),
    sa.Column("patient_key", sa.String(64)),
    sa.Column("raw", sa.LargeBinary, nullable=False),
    sa.Column("first_attempt_at", sa.Float, nullable=False),  # epoch seconds
    sa.Column("next_attempt_at", sa.Float, nullable=False),
    sa.Column("attempts", sa.Text, nullable=False),  # JSON list of {"at", "error"}
    # delivered even though the receiver has it (a redelivery after an acknowledgement timeout)
    sa.Column("resend", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("via", sa.String(64), nullable=True),  # the rest-hook subscription the copy goes through
)

dead_letters = sa.Table(
    "dead_letters",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("receiver", sa.String(64), nullable=False, index=True),
    sa.Column("tracking_id", sa.String(64), nullable=False, index=True),
    sa.Column("message_id", sa.String(64), nullable=False),
    sa.Column("sender", sa.String(64), nullable=False),
    sa.Column("event", sa.String(64)),
    sa.Column("patient_key", sa.String(64)),
    sa.Column("raw", sa.LargeBinary, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("attempts", sa.Text, nullable=False),
    sa.Column("dead_at", sa.String(40), nullable=False, index=True),
    sa.Column("redriven_at", sa.String(40)),
    sa.Column("resend", sa.Boolean, nullable=False, server_default=sa.false()),  # as parked.resend
    sa.Column("via", sa.String(64), nullable=True),  # as parked.via
)

subscriptions = sa.Table(
    "subscriptions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("receiver", sa.String(64), index=True, nullable=False),
    sa.Column("topic", sa.String(64), index=True, nullable=False),
    sa.Column("filters", sa.Text, nullable=False),  # JSON: hub.route.subscriptions.SubscriptionFilters.as_dict()
    sa.Column("status", sa.String(16), index=True, nullable=False),
    sa.Column("reason", sa.Text, nullable=False, default=""),
    sa.Column("origin", sa.String(16), nullable=False, default="api"),  # api | register | fhir
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
    sa.Column("basis", sa.Text, nullable=True),  # the policy rule that allows it (hub.route.subscription_policy)
    sa.Column("channel", sa.String(16), nullable=True),  # FHIR channel type of one made through /fhir/Subscription
    sa.Column("created_by", sa.String(200), nullable=True),  # who made it there: organisation id or operator
    sa.Column("rest_hook", sa.Text, nullable=True),  # JSON: hub.route.subscription.RestHook.as_json()
    sa.Column("error", sa.Text, nullable=True),  # why its status is error (a failed handshake)
    # the last event number given (hub.deliver.subscription_events): numbers count up from 1, never reused
    sa.Column("events_count", sa.Integer, nullable=False, server_default="0"),
)

# A rest-hook subscription's events: each copy of a message the hub hands to the subscriber through it, numbered
# from 1 in the order the hub took them, kept so that a system that was down catches up (``$events``).
subscription_events = sa.Table(
    "subscription_events",
    metadata,
    sa.Column("subscription_id", sa.String(64), primary_key=True),
    sa.Column("number", sa.Integer, primary_key=True),
    sa.Column("tracking_id", sa.String(64), nullable=False, index=True),
    sa.Column("message_id", sa.String(64), nullable=False),
    sa.Column("sender", sa.String(64), nullable=False),
    sa.Column("event", sa.String(64), nullable=True),
    sa.Column("at", sa.String(40), nullable=False),
    sa.UniqueConstraint("subscription_id", "tracking_id", name="uq_subscription_events_copy"),
)

# Periodic work that exactly one hub process may do at a time (draining one receiver's parked deliveries, the
# acknowledgement watch, the retention purge): the process holding the row's lease until `expires_at` (Unix
# seconds) does it. A process that dies stops renewing; another takes the lease when it has expired.
leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(160), primary_key=True),
    sa.Column("holder", sa.String(160), nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)

# What the retention purge deleted, without anything that names a patient or holds a message: per kind of data,
# the day the data was from, the MedCom event, the sender and the status it had.
purged = sa.Table(
    "purged",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("purged_at", sa.String(40), nullable=False, index=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("day", sa.String(10), nullable=False),
    sa.Column("event", sa.String(64)),
    sa.Column("sender", sa.String(64)),
    sa.Column("status", sa.String(32)),
    sa.Column("count", sa.Integer, nullable=False),
)

# The audit of reads of patient data (hub.audit): one entry per read, who read what when and from where. The
# patients a read touched are in read_audit_patient, as pseudonyms only (HMAC-SHA256 of the CPR number), indexed to
# answer "who read this patient's data". Entries go after HUB_RETENTION_READ_AUDIT_DAYS.
read_audit = sa.Table(
    "read_audit",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("recorded_at", sa.String(40), nullable=False, index=True),
    sa.Column("person", sa.String(160), nullable=False, index=True),  # the operator's name, or the organisation id
    sa.Column("role", sa.String(16), nullable=False),  # viewer | operator | administrator | organisation
    sa.Column("organisation", sa.String(64), index=True),  # set when an organisation's own system read
    sa.Column("address", sa.String(64)),  # the client's network address
    sa.Column("action", sa.String(64), nullable=False),  # e.g. "search messages", "read message"
    sa.Column("what", sa.Text, nullable=False),  # the resource read, e.g. /api/messages/<tracking id>
    sa.Column("query", sa.Text, nullable=False),  # JSON object of the query parameters, CPR numbers pseudonymised
    sa.Column("outcome", sa.String(16), nullable=False),
)

read_audit_patient = sa.Table(
    "read_audit_patient",
    metadata,
    sa.Column("entry_id", sa.String(32), primary_key=True),
    sa.Column("patient_pseudonym", sa.String(64), primary_key=True, index=True),
)

# The pseudonymisation key the hub made itself (HUB_AUDIT_PSEUDONYM_KEY unset): one row (id 1), written once by
# whichever hub process needs it first, read by all.
read_audit_key = sa.Table(
    "read_audit_key",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("key", sa.String(64), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
)
