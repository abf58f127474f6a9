# campus-idp images. The default target (the last stage, `idp`) runs `idp serve`, `idp migrate`,
# `idp check` and the CLI; the `apps` target runs the example campus apps from clients/.
FROM python:3.11-slim-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc libldap2-dev libsasl2-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md requirements/runtime.txt ./
COPY idp ./idp
COPY directory ./directory
# the exact, hash-checked versions `make demo` runs (requirements/runtime.txt), then campus-idp
RUN pip wheel --no-cache-dir --wheel-dir /wheels --require-hashes -r runtime.txt \
    && pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# The example apps: plain FastAPI apps, one image, the command picks the app.
FROM python:3.11-slim-bookworm AS apps
RUN pip install --no-cache-dir "fastapi>=0.115" "uvicorn[standard]>=0.32" "authlib>=1.6.5" \
        "httpx>=0.27" "itsdangerous>=2.2" "joserfc>=1.0" "python-multipart>=0.0.18" \
        "python-cas>=1.6" \
    && useradd --system --home /app app
WORKDIR /app
COPY clients ./clients
USER app
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)" || exit 1

FROM python:3.11-slim-bookworm AS idp
RUN apt-get update && apt-get install -y --no-install-recommends libldap-2.5-0 libsasl2-2 curl \
    && rm -rf /var/lib/apt/lists/* && useradd --system --home /var/lib/idp --create-home idp \
    && install -d -m 0700 -o idp -g idp /var/lib/idp/keys
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index /wheels/* && rm -rf /wheels
USER idp
WORKDIR /var/lib/idp
ENV IDP_KEYS_DIR=/var/lib/idp/keys
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s CMD curl -fsS http://127.0.0.1:8000/healthz || exit 1
# one worker per container: scale with replicas (metrics are per process, see idp/monitoring/metrics.py)
CMD ["idp", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "1"]
