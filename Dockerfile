# Tuneloop as a container: `docker compose up` (compose.yaml), or build and run it yourself:
#   docker build -t tuneloop . && docker run --env-file .env -p 3000:3000 -v tuneloop-data:/data tuneloop
# The offline demo needs no settings: `docker compose run --rm tuneloop tuneloop demo`.
# One container per database (README, "One process per database"). The database lives on the /data volume.

FROM python:3.11-slim AS build
WORKDIR /src
# deploy/install.sh installs requirements/base.txt (hash-checked: the bot's dependencies, no training library),
# then Tuneloop itself. Dependencies first, so that layer is rebuilt only when the lock changes.
COPY deploy/install.sh deploy/install.sh
COPY requirements/base.txt requirements/base.txt
RUN sh deploy/install.sh /venv --deps-only
COPY pyproject.toml README.md ./
COPY bot bot
COPY handlers handlers
COPY render render
COPY tuning tuning
COPY storage storage
COPY providers providers
COPY selfhost selfhost
RUN sh deploy/install.sh /venv

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
