"""twincast: the ``twincast`` command and the tools behind it (the roof of the house).

Topic creation, produce/tail/plot, the demo, ``twincast evaluate``, rollback and the local
Apache Kafka broker used for development and tests. The services (``worker``, ``trainer``) and
what they stand on (``lstmcore``, ``schemas``, ``foundation``) never import from here.
"""

__version__ = "0.1.0"
