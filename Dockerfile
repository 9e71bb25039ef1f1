# MyMedic bot: one image for the web app, the worker and the one-shot migration.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    MYMEDIC_VAR_DIR=/app/var

WORKDIR /app

# Dependencies first, so that code changes do not reinstall them.
COPY pyproject.toml README.md ./
COPY bot/__init__.py bot/__init__.py
COPY flows/__init__.py flows/__init__.py
COPY workers/__init__.py workers/__init__.py
RUN pip install .

COPY bot bot
COPY flows flows
COPY workers workers
COPY templates templates
COPY locales locales
COPY babel.cfg ./
# Point the installed packages at /app (dependencies are already there), so that
# `python -m bot` and PROJECT_ROOT (templates/, locales/) resolve inside /app.
RUN pip install --no-deps -e . \
    && useradd --create-home --uid 10001 mymedic \
    && mkdir -p /app/var && chown mymedic /app/var

USER mymedic
EXPOSE 8080
CMD ["python", "-m", "bot", "serve"]
