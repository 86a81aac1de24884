# One image for the local_openai, worker, web and flower services of docker-compose.yml (Redis uses the official
# image). The commands live in docker-compose.yml; the default runs a worker on all three queues.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# The CPU-only torch build first, from PyTorch's CPU index: the default index pulls gigabytes of CUDA libraries.
# requirements.txt pins the same version, which the +cpu build already satisfies.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

# The runtime set only: the test and lint tools never enter the image.
COPY requirements.txt requirements-nodeps.txt ./
RUN pip install -r requirements.txt \
 && pip install --no-deps -r requirements-nodeps.txt

COPY shared ./shared
COPY local_openai ./local_openai
COPY worker ./worker
COPY web ./web

# /data/local_openai exists, owned by the service user, so the named volume compose mounts there starts writable.
RUN useradd --create-home --uid 10001 tunequeue \
 && mkdir -p /data/local_openai \
 && chown -R tunequeue /data
USER tunequeue
ENV TQ_DATA_DIR=/data

EXPOSE 5000 5555 8100
CMD ["celery", "-A", "worker", "worker", "-Q", "tunequeue,training,evaluation", "--pool", "threads", "--loglevel", "INFO"]
