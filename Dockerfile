# campus-idp: one image for `idp serve`, `idp migrate`, `idp check` and the CLI.
FROM python:3.11-slim-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc libldap2-dev libsasl2-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY idp ./idp
COPY directory ./directory
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends libldap-2.5-0 libsasl2-2 curl \
    && rm -rf /var/lib/apt/lists/* && useradd --system --home /var/lib/idp --create-home idp
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/* && rm -rf /wheels
USER idp
WORKDIR /var/lib/idp
ENV IDP_KEYS_DIR=/var/lib/idp/keys
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s CMD curl -fsS http://127.0.0.1:8000/healthz || exit 1
CMD ["idp", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
