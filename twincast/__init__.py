"""twincast: one-step-ahead forecasts on Kafka from a stateful LSTM and its batch-1 twin.

This package holds what the services share: the error hierarchy, the settings objects, the
local Apache Kafka broker used for development and tests, topic administration and the
umbrella ``twincast`` command line.
"""

__version__ = "0.1.0"
