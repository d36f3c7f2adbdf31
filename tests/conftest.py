import os

# TensorFlow is imported lazily by the model core; keep its C++ start-up chatter out of test logs.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

from tests.kafka_fixtures import kafka_bootstrap, kafka_settings

__all__ = ["kafka_bootstrap", "kafka_settings"]
