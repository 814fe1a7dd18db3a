# async_ingest container image: stream CSV files from a mounted volume into S3 as UTF-8.
#
#   docker build -t async-ingest .
#   docker run --rm -v "$PWD/data:/data:ro" -e ASYNC_INGEST_BUCKET=my-bucket \
#     -e AWS_ACCESS_KEY_ID -e AWS_SECRET_ACCESS_KEY async-ingest
#
# Classic builder compatible (no BuildKit features). No credentials are baked in: they come from
# AWS_* env vars, a mounted credentials file, or the platform's role at run time.

# ---- builder: build the wheel and install it with the pinned dependencies into /opt/venv ----
FROM python:3.11-slim-bookworm AS builder

# Optional package index for the build (e.g. a mirror); passed by scripts/container-test.sh when the
# host's pip is configured with one. Build-stage only: it never reaches the final image.
ARG PIP_INDEX_URL
ARG PIP_TRUSTED_HOST
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
# The venv gets no pip of its own: the base image's pip installs into it (pip --python).
RUN python -m venv --without-pip /opt/venv

# Dependencies first (their layer is cached while only the code changes), exact versions from the lock.
COPY requirements.lock ./
RUN pip --python /opt/venv/bin/python install --no-cache-dir -r requirements.lock

# README.md* : pyproject.toml names README.md as the long description; the glob keeps the build
# working while it is absent.
COPY pyproject.toml README.md* ./
COPY async_ingest ./async_ingest
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /tmp/wheels . \
    && pip --python /opt/venv/bin/python install --no-cache-dir --no-deps /tmp/wheels/async_ingest-*.whl \
    && pip --python /opt/venv/bin/python check \
    && /opt/venv/bin/python -m compileall -q /opt/venv/lib

# ---- final: the same base, the venv, a non-root user ----
FROM python:3.11-slim-bookworm

LABEL org.opencontainers.image.title="async-ingest" \
      org.opencontainers.image.description="Stream CSV files into S3 as clean UTF-8" \
      org.opencontainers.image.licenses="MIT"

# MALLOC_ARENA_MAX: fewer glibc arenas for the file-reading threads, a lower peak RSS (measured).
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONFAULTHANDLER=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    HOME=/home/ingest \
    LANG=C.UTF-8 \
    MALLOC_ARENA_MAX=2

RUN groupadd --system --gid 10001 ingest \
    && useradd --system --uid 10001 --gid ingest --home-dir /home/ingest --create-home \
       --shell /usr/sbin/nologin ingest

COPY --from=builder /opt/venv /opt/venv

USER 10001:10001
WORKDIR /home/ingest
VOLUME /data

ENTRYPOINT ["python", "-m", "async_ingest"]
CMD ["/data"]
