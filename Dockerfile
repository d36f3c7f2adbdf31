# The twincast application image: trainer, worker and the twincast CLI.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 TF_CPP_MIN_LOG_LEVEL=3
WORKDIR /app
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY lstmcore ./lstmcore
COPY twincast ./twincast
COPY trainer ./trainer
COPY worker ./worker
RUN pip install '.[confluent]'  # both Kafka clients: TWINCAST_KAFKA_CLIENT chooses
# State (SQLite history, artifact copies) lives here; mount a volume to keep it.
WORKDIR /data
CMD ["twincast-worker"]
