# socdesk: web and worker image. Build: docker build -t socdesk .
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    PATH="/app/.venv/bin:$PATH"

RUN pip install --no-cache-dir uv \
    && useradd --create-home --uid 10001 socdesk

WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY portal ./portal
COPY workers ./workers
COPY migrations ./migrations
COPY templates ./templates
COPY static ./static
RUN uv sync --no-dev && chown -R socdesk:socdesk /app

USER socdesk
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz').status != 200)"
CMD ["socdesk", "web", "--host", "0.0.0.0", "--port", "8000", "--proxy-headers"]
