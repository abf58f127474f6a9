# campus-idp images. The default target (the last stage, `idp`) runs `idp serve`, `idp migrate`,
# `idp check` and the CLI; the `apps` target runs the example campus apps from clients/.
#
# BASE_IMAGE: any Debian bookworm image. The default is the public one; a machine that reaches
# no registry builds its own with debootstrap (scripts/test-deploy.sh) and passes
# --build-arg BASE_IMAGE=localhost/debian:bookworm. Python is Debian's (3.11) either way, so
# the virtualenvs made in `build` run unchanged in the runtime stages.
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${BASE_IMAGE} AS python
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 \
       ca-certificates \
    && rm -rf /var/lib/apt/lists/*
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1

# compilers and headers live here only, never in what runs
FROM python AS build
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-venv \
       python3-dev gcc libc6-dev libldap2-dev libsasl2-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY requirements/runtime.txt ./
# the exact, hash-checked versions `make demo` runs (requirements/runtime.txt), then campus-idp
RUN python3 -m venv /opt/idp \
    && /opt/idp/bin/pip install --no-cache-dir --require-hashes -r runtime.txt
# the example apps: plain FastAPI apps in a virtualenv of their own (before the project's
# sources, so that a change to them does not install these again)
RUN python3 -m venv /opt/apps \
    && /opt/apps/bin/pip install --no-cache-dir "fastapi>=0.115" "uvicorn[standard]>=0.32" \
       "authlib>=1.6.5" "httpx>=0.27" "itsdangerous>=2.2" "joserfc>=1.0" \
       "python-multipart>=0.0.18" "python-cas>=1.6"
COPY pyproject.toml README.md ./
COPY idp ./idp
COPY directory ./directory
RUN /opt/idp/bin/pip install --no-cache-dir --no-deps . && rm -rf build *.egg-info

# The example apps: one image, the command picks the app.
FROM python AS apps
COPY --from=build /opt/apps /opt/apps
RUN useradd --system --home /app app
ENV PATH=/opt/apps/bin:$PATH
WORKDIR /app
COPY clients ./clients
USER app
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s CMD python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)" || exit 1

FROM python AS idp
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libldap-2.5-0 \
       libsasl2-2 curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/idp --create-home idp \
    && install -d -m 0700 -o idp -g idp /var/lib/idp/keys
COPY --from=build /opt/idp /opt/idp
# logs: JSON lines on stdout, the container's output
ENV PATH=/opt/idp/bin:$PATH IDP_KEYS_DIR=/var/lib/idp/keys IDP_LOG_STREAM=stdout
USER idp
WORKDIR /var/lib/idp
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s CMD curl -fsS http://127.0.0.1:8000/healthz || exit 1
# one worker per container: scale with replicas (metrics are per process, see idp/monitoring/metrics.py)
CMD ["idp", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "1"]
