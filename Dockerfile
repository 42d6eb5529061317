# Herald's image: the same code runs the API, a worker or the migrations, chosen by the command.
FROM python:3.11-slim AS build
WORKDIR /app
COPY pyproject.toml README.md ./
COPY core core
COPY store store
COPY providers providers
COPY activities activities
COPY workflows workflows
COPY api api
COPY devstack devstack
COPY bench bench
COPY worker.py ./
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 herald
COPY --from=build /install /usr/local
WORKDIR /home/herald
USER herald
ENV HERALD_API_HOST=0.0.0.0 PYTHONUNBUFFERED=1
EXPOSE 8000
# Open inbox streams (SSE) never end by themselves: a stop cuts them after 10 s instead of waiting forever.
CMD ["uvicorn", "--factory", "api.app:app", "--host", "0.0.0.0", "--port", "8000",
     "--timeout-graceful-shutdown", "10"]
