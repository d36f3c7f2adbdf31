"""The stateful LSTM core: Keras builder, N-stream layout, training loop, pure step, artifacts.

Everything here is pure (no Kafka, no files): the services are thin shells around it.
"""
