# The twincast application image: trainer, worker and the twincast CLI.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 TF_CPP_MIN_LOG_LEVEL=3
WORKDIR /app
COPY pyproject.toml README.md ./
COPY foundation ./foundation
COPY schemas ./schemas
COPY lstmcore ./lstmcore
COPY twincast ./twincast
COPY trainer ./trainer
COPY worker ./worker
# Both Kafka clients: TWINCAST_KAFKA_CLIENT chooses (kafka-python by default).
RUN pip install '.[confluent]'
# State (SQLite history, artifact copies) lives here; mount a volume to keep it.
WORKDIR /data
CMD ["twincast-worker"]
