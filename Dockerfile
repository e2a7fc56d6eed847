FROM python:3.11-slim
WORKDIR /srv/sektor-hub
COPY pyproject.toml README.md ./
COPY hub ./hub
COPY connectors ./connectors
COPY mappings ./mappings
COPY schemas ./schemas
RUN pip install --no-cache-dir . && useradd --system --home /srv/sektor-hub hub && mkdir -p var && chown hub var
USER hub
ENV HUB_HOST=0.0.0.0 HUB_PORT=8000
EXPOSE 8000 2575
CMD ["hub", "serve"]
