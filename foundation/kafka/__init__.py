"""The Kafka client layer: topic admin, reading a topic once, the weights topic's wire format,
riding out a broker that is away, and skipping records the client cannot parse."""
