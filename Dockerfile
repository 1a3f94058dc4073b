# The vmsync image: one image, one component per container (see docker-compose.yml).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
COPY src ./src
RUN pip install --no-cache-dir uv==0.13.9 \
 && uv pip install --system --no-cache .
USER nobody
ENTRYPOINT []
CMD ["vmsync", "--help"]
