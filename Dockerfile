# dermviz dashboard on the built-in demo (first version; real-browser tests come later).
# Build: docker build -t dermviz .    Run: docker run -p 8501:8501 dermviz
# GPU image: replace tensorflow-cpu in requirements.txt with tensorflow[and-cuda] and
# start from nvidia/cuda:12.5.1-cudnn-runtime-ubuntu22.04 (see README, "GPU").
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 TF_CPP_MIN_LOG_LEVEL=2 \
    DERMVIZ_MODELS=/data/models
WORKDIR /app
COPY requirements.txt pyproject.toml README.md ./
COPY dermviz ./dermviz
RUN pip install -r requirements.txt && pip install --no-deps -e .
COPY app ./app
VOLUME /data/models
EXPOSE 8501
# Builds the demo suite on first start (resumes if interrupted), then serves.
CMD ["sh", "-c", "dermviz demo && streamlit run app/Home.py --server.address=0.0.0.0 --server.headless=true --browser.gatherUsageStats=false"]
