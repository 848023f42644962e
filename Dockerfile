# Tuneloop as a container: `docker compose up` (compose.yaml), or build and run it yourself:
#   docker build -t tuneloop . && docker run --env-file .env -p 3000:3000 -v tuneloop-data:/data tuneloop
# One container per database (README, "One process per database"). The database lives on the /data volume.

FROM python:3.11-slim AS build
WORKDIR /src
# requirements/lock.txt pins every package, the training extras (torch, TRL, ...) included. The image needs only
# the base dependencies, at the lock's versions: its pins become constraints (pip takes no hashes there).
COPY requirements/lock.txt requirements/lock.txt
RUN grep -E '^[A-Za-z0-9_.-]+(\[[^]]*\])?==' requirements/lock.txt | sed 's/ *\\$//' > /tmp/pins.txt
COPY pyproject.toml README.md ./
COPY bot bot
COPY handlers handlers
COPY render render
COPY tuning tuning
COPY storage storage
COPY providers providers
COPY selfhost selfhost
RUN python -m venv /venv && /venv/bin/pip install --no-cache-dir -c /tmp/pins.txt .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin tuneloop \
    && mkdir -p /data && chown tuneloop:tuneloop /data
COPY --from=build /venv /venv
ENV PATH=/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    TUNELOOP_DB=/data/tuneloop.db \
    PORT=3000 \
    TUNELOOP_HEALTH_PORT=8081
WORKDIR /data
USER tuneloop
VOLUME ["/data"]
# 3000: /slack/events, /healthz, /readyz and /metrics over HTTP; 8081: the same health endpoints in Socket Mode.
EXPOSE 3000 8081
# `tuneloop healthcheck` asks this container's own server for /healthz, on whichever port the mode uses.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["tuneloop", "healthcheck"]
# SIGTERM stops it cleanly (work in progress finishes, the writer lease is released).
STOPSIGNAL SIGTERM
CMD ["tuneloop", "serve", "--log-format", "json"]
