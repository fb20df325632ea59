# Chapar in a container: built in one stage, run from a slim one as a non-root user.
#   docker build -t chapar . && docker run -p 2775:2775 -v chapar-var:/srv/var chapar
# deploy/compose.yaml runs two nodes behind HAProxy (TCP) with PostgreSQL and Redis.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY router ./router
RUN python -m venv /opt/chapar \
    && /opt/chapar/bin/pip install --no-cache-dir --disable-pip-version-check .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --user-group --home-dir /srv --shell /usr/sbin/nologin chapar \
    && mkdir -p /srv/var \
    && chown chapar:chapar /srv/var
COPY --from=build /opt/chapar /opt/chapar
COPY config /srv/config
ENV PATH=/opt/chapar/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CHAPAR_HEALTH_URL=http://127.0.0.1:9775/healthz
WORKDIR /srv
USER 10001:10001
# 2775 SMPP, 8775 SMPP over TLS (listen.tls_port), 9775 admin API (loopback by default)
EXPOSE 2775 8775
VOLUME ["/srv/var"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; r = urllib.request.urlopen(os.environ['CHAPAR_HEALTH_URL'], timeout=2); sys.exit(r.status != 200)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["chapar"]
CMD ["run"]
