# syntax=docker/dockerfile:1
# One image for every Hubgraph process: `hubgraph <hub> serve`, `hubgraph migrate`,
# `hubgraph gateway serve` (the entrypoint is `hubgraph`; Kubernetes passes the rest as
# args). Built in stages so the image holds a virtual environment and GraphiQL's browser
# files, and neither uv, npm nor a compiler:
#
#   docker build -t registry.example.org/hubgraph:0.1.0 .
#
# The running image needs no writable path but /var/lib/hubgraph (HUBGRAPH_HOME) and
# /tmp, both volumes under Kubernetes, so the root filesystem can be read-only; it runs
# as the unprivileged user 10001. Base images are pinned by tag; pin them by digest too
# (FROM image:tag@sha256:...) where builds must be reproducible. See docs/deploy.md.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG NODE_IMAGE=node:22-bookworm-slim

# --- GraphiQL, React and ReactDOM browser builds, from the lockfile -------------------
FROM ${NODE_IMAGE} AS graphiql
WORKDIR /assets
COPY gateway/http/graphiql_assets/package.json gateway/http/graphiql_assets/package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# --- the virtual environment, from uv.lock --------------------------------------------
FROM ${PYTHON_IMAGE} AS builder
ARG UV_VERSION=0.13.9
# No interpreter download (the base image's Python is the one), byte code compiled at
# install (the runtime never writes any), files copied rather than linked from uv's cache.
ENV UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON_PREFERENCE=only-system \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/opt/hubgraph/venv
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
WORKDIR /src
# Dependencies first: this layer is rebuilt only when the lockfile changes.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-install-project --no-editable
# Then the project itself, installed into the environment (not as an editable link).
COPY README.md ./
COPY hubgraph ./hubgraph
COPY gateway ./gateway
COPY identity ./identity
COPY subgraphs ./subgraphs
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable

# --- the image that runs ---------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 hubgraph \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /var/lib/hubgraph --shell /usr/sbin/nologin hubgraph \
 && install -d -o 10001 -g 10001 -m 0700 /var/lib/hubgraph
COPY --from=builder /opt/hubgraph/venv /opt/hubgraph/venv
COPY --from=graphiql /assets/node_modules /opt/hubgraph/graphiql/node_modules
ENV PATH=/opt/hubgraph/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/var/lib/hubgraph \
    HUBGRAPH_HOME=/var/lib/hubgraph \
    HUBGRAPH_GRAPHIQL_ASSETS=/opt/hubgraph/graphiql/node_modules
WORKDIR /var/lib/hubgraph
USER 10001:10001
# The gateway, then the hubs' default ports (core, dev, ops, fin).
EXPOSE 4000 8000 8001 8002 8003
ENTRYPOINT ["hubgraph"]
CMD ["--help"]
