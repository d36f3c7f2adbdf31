# The twincast application image: trainer, worker and the twincast CLI.
# PYTHON_IMAGE selects the base; users keep the official one. The container test builds with
# --build-arg PYTHON_IMAGE=twincast-ct/python:3.11, a stand-in built from Debian's packages
# (deploy/containers/python), because no image registry is reachable there.
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 TF_CPP_MIN_LOG_LEVEL=3
WORKDIR /app
# The dependencies first, read from pyproject.toml: their layer (TensorFlow is most of the image)
# is rebuilt only when pyproject.toml changes, not at every change of the code.
COPY pyproject.toml ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
print('\n'.join(p['dependencies'] + p['optional-dependencies']['confluent']))" > requirements.txt \
 && pip install -r requirements.txt
COPY README.md ./
COPY foundation ./foundation
COPY schemas ./schemas
COPY lstmcore ./lstmcore
COPY twincast ./twincast
COPY trainer ./trainer
COPY worker ./worker
# Both Kafka clients: TWINCAST_KAFKA_CLIENT chooses (kafka-python by default).
RUN pip install --no-deps '.[confluent]'
# State (SQLite history, artifact copies) lives here; mount a volume to keep it.
WORKDIR /data
CMD ["twincast-worker"]
