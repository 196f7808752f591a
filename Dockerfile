# The greenpipe application image: collector, simulator, rollups, forecaster and dashboard
# all run from it with different commands (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY greenpipe ./greenpipe
COPY collector ./collector
COPY simulators ./simulators
COPY forecasting ./forecasting
COPY dashboard ./dashboard
COPY alerts ./alerts
COPY reports ./reports
COPY findings ./findings
COPY brokerauth ./brokerauth
COPY config ./config
RUN pip install ".[dask]" && rm -rf /src

COPY --chmod=0755 deploy/every.sh /usr/local/bin/every

RUN useradd --system --uid 10001 --home-dir /var/lib/greenpipe --create-home greenpipe
# The collector's spool lives here on a named volume, which copies this ownership.
RUN mkdir -p /var/lib/greenpipe/spool && chown greenpipe /var/lib/greenpipe/spool
USER greenpipe
WORKDIR /var/lib/greenpipe

# The dashboard's port; the other services only make outgoing connections.
EXPOSE 8501
CMD ["greenpipe", "--help"]
