"""What the hub tells Prometheus: counters and histograms of the work as it happens (`hub.observe.metrics`),
the classification of a rejection into a bounded rule label (`hub.observe.rejections`), the time a message was
accepted (`hub.observe.timing`) and how far each consumer is behind its topic (`hub.observe.lag`)."""
