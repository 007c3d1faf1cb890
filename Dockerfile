# ichbench as a grand-challenge.org evaluation method: CPU only, scoring dependencies only
# (no torch, no nnU-Net), non-root user. Build and test (README, "Evaluating on
# grand-challenge.org"):
#
#   docker build -t ichbench-evaluation .
#   docker run --rm --network none -v "$PWD/dry/input:/input:ro" \
#       -v "$PWD/truth:/opt/ml/input/data/ground_truth:ro" -v "$PWD/dry/output:/output" \
#       ichbench-evaluation
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system user && useradd --system --create-home --gid user user

WORKDIR /opt/ichbench
# Dependencies first (a layer that survives source edits), then ichbench without its own
# dependency list, which would pull torch and nnU-Net: pip cannot drop them via an extra.
COPY requirements/score.txt requirements/score.txt
RUN pip install -r requirements/score.txt
COPY pyproject.toml README.md ./
COPY benchmark benchmark
COPY baselines baselines
COPY metrics metrics
COPY submissions submissions
COPY reports reports
RUN pip install --no-deps . && rm -rf /opt/ichbench/build \
    && ichbench grand-challenge --help > /dev/null

USER user
WORKDIR /home/user
ENTRYPOINT ["ichbench", "grand-challenge", "evaluate"]
