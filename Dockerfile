# One image for web, worker and beat (compose.yaml picks the command).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    WPUBLISHER_DATA_DIR=/data WPUBLISHER_CONFIG_DIR=/config HOST=0.0.0.0 PORT=8000
WORKDIR /app
COPY pyproject.toml README.md ./
COPY wpublisher ./wpublisher
COPY console ./console
COPY api ./api
COPY mcp_bridge ./mcp_bridge
COPY configuration ./configuration
COPY articles ./articles
COPY agents ./agents
COPY sites ./sites
COPY audit ./audit
COPY core ./core
RUN pip install --no-cache-dir . && useradd --system --home /app wpublisher && mkdir -p /data && chown wpublisher /data
COPY manage.py ./
COPY templates ./templates
COPY static ./static
COPY config/examples ./config/examples
USER wpublisher
EXPOSE 8000
CMD ["python", "-m", "wpublisher.webserver", "-b", "0.0.0.0", "-p", "8000", "wpublisher.asgi:application"]
