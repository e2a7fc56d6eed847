"""``python -m bench``: end-to-end, latency, raw Kafka, validation, memory and scale-out benchmarks of the hub.

The bench starts its own embedded broker, a generated register of every Danish municipality, about a hundred
GP practices and the hospitals of the five regions, lean receiver processes that acknowledge every message,
and the hub as a real separate process (``python -m hub serve``). Messages are generated before timing.
"""
