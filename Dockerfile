# async_ingest container image: stream CSV files from a mounted volume into S3 as UTF-8.
#
#   docker build -t async-ingest .
#   docker run --rm -v "$PWD/data:/data:ro" -e ASYNC_INGEST_BUCKET=my-bucket \
#     -e AWS_ACCESS_KEY_ID -e AWS_SECRET_ACCESS_KEY async-ingest
#
# Classic builder compatible (no BuildKit features). No credentials are baked in: they come from
# AWS_* env vars, a mounted credentials file, or the platform's role at run time.

# ---- builder: compile the C core into the wheel, install it with the pinned dependencies into /opt/venv ----
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
# A C compiler for async_ingest.transform._native (setup.py), in this stage only: the final stage copies
# /opt/venv and nothing else, so no compiler ships. Python.h: the official image has it under its own
# prefix; a base with Debian's python3 (CI's local stand-in) needs python3-dev, installed only then.
# Versions unpinned on purpose (DL3008): bookworm's point releases replace these packages, so a pin
# would break the build at the next release while buying nothing: the compiler's output is checked
# below (the native core must load) and by scripts/container-test.sh, and never ships itself.
# hadolint ignore=DL3008
RUN headers=$(python -c 'import os, sysconfig; \
print("" if os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")) else "python3-dev")') \
    && apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       gcc libc6-dev ${headers:+"$headers"} \
    && rm -rf /var/lib/apt/lists/*

# The venv gets no pip of its own: the base image's pip installs into it (pip --python).
RUN python -m venv --without-pip /opt/venv

# Dependencies first (their layer is cached while only the code changes), exact versions from the lock.
COPY requirements.lock ./
RUN pip --python /opt/venv/bin/python install --no-cache-dir -r requirements.lock

# README.md* : pyproject.toml names README.md as the long description; the glob keeps the build
# working while it is absent. setup.py builds the C core.
COPY pyproject.toml setup.py README.md* ./
COPY async_ingest ./async_ingest
# The extension is compiled here, for this image's Python: one built on the host does not belong in the
# context (.dockerignore keeps *.so out; this step stops if one gets in). setup.py only warns when the
# compile fails (the pure-Python twin then runs), so the build checks that the package loads the native core
# (python -I: the installed package in /opt/venv, not the source tree in the working directory).
RUN built=$(find async_ingest \( -name '*.so' -o -name '*.pyd' \) -print) \
    && if [ -n "$built" ]; then echo "host-built extension in the build context (.dockerignore): $built" >&2; \
       exit 1; fi \
    && pip wheel --no-cache-dir --no-deps --wheel-dir /tmp/wheels . \
    && pip --python /opt/venv/bin/python install --no-cache-dir --no-deps /tmp/wheels/async_ingest-*.whl \
    && pip --python /opt/venv/bin/python check \
    && /opt/venv/bin/python -I -c "from async_ingest.transform.native import IMPLEMENTATION as I, \
BUILD_ERROR as E; assert I == 'native', f'the C core did not build: {E}'" \
    && /opt/venv/bin/python -m compileall -q /opt/venv/lib

# ---- final: the same base, the venv (with the built C core), a non-root user; no compiler ----
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
