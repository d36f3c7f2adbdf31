"""The Kafka client layer: its interfaces (``client``) and their kafka-python implementation
(``kafka_python``), made by ``factory.kafka_clients``; on top of them topic admin, reading a topic
once, the weights topic's wire format, riding out a broker that is away, and skipping records the
client cannot parse."""
