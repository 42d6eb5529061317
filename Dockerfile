# Herald's image: the same code runs the API, a worker or the migrations, chosen by the command. It holds
# production code only: no embedded servers, no development stack (devstack/), no benchmark (bench/).
FROM python:3.11-slim AS build
WORKDIR /app
COPY pyproject.toml README.md ./
COPY core core
COPY store store
COPY providers providers
COPY services services
COPY activities activities
COPY workflows workflows
COPY hosting hosting
COPY api api
COPY cli cli
COPY worker.py ./
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 herald
COPY --from=build /install /usr/local
WORKDIR /home/herald
USER herald
ENV HERALD_API_HOST=0.0.0.0 PYTHONUNBUFFERED=1
EXPOSE 8000
CMD ["herald", "api"]
