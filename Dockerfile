# Chapar in a container: the router on its config, journal in a volume.
#   docker build -t chapar . && docker run -p 2775:2775 -v chapar-var:/srv/var chapar
FROM python:3.11-slim
WORKDIR /srv
COPY pyproject.toml README.md ./
COPY router ./router
COPY config ./config
RUN pip install --no-cache-dir . && useradd --system chapar && mkdir var && chown chapar var
USER chapar
EXPOSE 2775
VOLUME ["/srv/var"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["chapar"]
CMD ["run"]
