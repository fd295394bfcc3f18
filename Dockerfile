# dermviz dashboard image (CPU TensorFlow by default).
#   docker build -t dermviz .
#   docker run -p 8501:8501 -v dermviz-models:/data/models dermviz
# GPU image: the same file with CUDA TensorFlow (CUDA and cuDNN come as pip packages;
# the host needs only the NVIDIA driver and the NVIDIA container toolkit):
#   docker build --build-arg TENSORFLOW="tensorflow[and-cuda]==2.21.0" -t dermviz-gpu .
#   docker run --gpus all -p 8501:8501 -v dermviz-models:/data/models dermviz-gpu
# See README, "Container".
FROM python:3.11-slim

# The TensorFlow build to install in place of requirements.txt's tensorflow-cpu.
ARG TENSORFLOW="tensorflow-cpu==2.21.0"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    DERMVIZ_MODELS=/data/models \
    DERMVIZ_DEMO=default

RUN groupadd --gid 10001 dermviz \
    && useradd --create-home --uid 10001 --gid 10001 dermviz \
    && mkdir -p /data/models /data/ham10000 \
    && chown 10001:10001 /data/models

WORKDIR /app
COPY requirements.txt pyproject.toml README.md ./
COPY dermviz ./dermviz
# Pinned base requirements only (no torch, no ray), with the chosen TensorFlow build.
RUN grep -v '^tensorflow-cpu==' requirements.txt > /tmp/requirements-image.txt \
    && pip install -r /tmp/requirements-image.txt "${TENSORFLOW}" \
    && pip install --no-deps . \
    && rm /tmp/requirements-image.txt
COPY .streamlit ./.streamlit
COPY app ./app

USER 10001:10001
# Trained suites (written by the demo, `dermviz train`, `dermviz explain`) and, read-only,
# a HAM10000 folder for `dermviz train --data /data/ham10000`.
VOLUME ["/data/models", "/data/ham10000"]
EXPOSE 8501

# Long start period: the first start builds the demo suite before serving.
HEALTHCHECK --interval=30s --timeout=10s --start-period=15m --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://localhost:8501/_stcore/health', timeout=8)"]

# DERMVIZ_DEMO=default|smoke builds (or resumes) that demo suite first; off serves what
# is in /data/models. Any other command runs instead, e.g. `dermviz train ...`.
CMD ["sh", "-c", "if [ \"$DERMVIZ_DEMO\" != off ]; then dermviz demo --profile \"$DERMVIZ_DEMO\"; fi && exec streamlit run app/Home.py --server.address=0.0.0.0 --server.port=8501"]
