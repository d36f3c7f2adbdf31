"""The ground every twincast package stands on: errors, settings and the Kafka client layer.

Nothing here imports a contract, the core, a service or a tool (tests/unit/test_import_graph.py).
"""
