"""The Kafka side: the embedded development broker, topic names and set-up, record headers, clients."""
