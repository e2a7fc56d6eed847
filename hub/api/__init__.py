"""The HTTP side: operator API, mailboxes, health. Connectors add their own routers (connectors/)."""
