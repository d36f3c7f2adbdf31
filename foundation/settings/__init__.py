"""Every setting of every twincast service and tool: the one place where defaults live.

Each service has one frozen settings object read from ``TWINCAST_*`` variables at its entry point
(``base`` holds what all share: Kafka, security, topics, artifact limits). Nothing below or above
carries its own default for a tunable: the core and the services take values from these objects.
"""
