# supportbot: the same service `make run` starts, on the embedded SQLite store kept in /data.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY adapters ./adapters
COPY knowledge ./knowledge
COPY supportbot.example.toml ./
RUN pip install . && useradd --create-home --uid 10001 supportbot && mkdir /data && chown supportbot /data

USER supportbot
ENV SUPPORTBOT_SERVER__STORE=sqlite:////data/supportbot.db
VOLUME ["/data"]
EXPOSE 3978
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request, sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:3978/healthz', timeout=4).status == 200 else 1)"
CMD ["supportbot", "serve", "--config", "supportbot.example.toml", "--host", "0.0.0.0", "--port", "3978"]
