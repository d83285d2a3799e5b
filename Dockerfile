# CPU image: Piper (its voice comes with pip) and the built-in engine work with no model download.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    TTS_HOST=0.0.0.0 TTS_PORT=7860 TTS_DATA_DIR=/data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
# EXTRAS=postgres for replicas on a shared PostgreSQL (deploy/compose.yaml passes it)
ARG EXTRAS=
RUN pip install ".${EXTRAS:+[$EXTRAS]}"

VOLUME ["/data"]
EXPOSE 7860
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:7860/health').status == 200 else 1)"
CMD ["tts-server", "--host", "0.0.0.0", "--port", "7860"]
