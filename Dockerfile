# syntax=docker/dockerfile:1
# Yatagarasu container image (docs/DEPLOYMENT.md#docker).
#
#   docker build -t yatagarasu:dev .
#   docker run --rm -p 8080:8080 -p 9090:9090 \
#     -e S3_BUCKET=my-bucket -e AWS_ACCESS_KEY_ID -e AWS_SECRET_ACCESS_KEY yatagarasu:dev
#
# Checked without a Docker engine by scripts/check-deploy.py (`make deploy-check`): stages,
# USER, HEALTHCHECK, STOPSIGNAL, the build stage's packages against scripts/build-packages.txt
# and the runtime stage's packages against `ldd build/yatagarasu`.

############################ build ############################
FROM debian:12 AS build

# The same list as scripts/build-packages.txt (check-deploy.py compares them).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config \
      libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev \
      libyaml-cpp-dev libspdlog-dev libfmt-dev libhiredis-dev liburing-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
# Only what the binary is built from: no tests, benchmarks or docs (see .dockerignore).
COPY CMakeLists.txt ./
COPY cmake/ cmake/
COPY src/ src/

# RelWithDebInfo is what the figures in docs/PERFORMANCE.md were measured with (-O2 -g); the
# debug info stays in the build stage (the runtime copy is stripped of it).
ARG BUILD_TYPE=RelWithDebInfo
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=${BUILD_TYPE} \
      -DYG_BUILD_TESTS=OFF -DYG_BUILD_BENCH=OFF \
 && cmake --build build --target yatagarasu -j"$(nproc)" \
 && strip --strip-debug -o /yatagarasu build/yatagarasu \
 && /yatagarasu --version

############################ runtime ############################
FROM debian:12-slim AS runtime

# The shared libraries `ldd build/yatagarasu` names, by Debian package (libc6, libgcc-s1 and
# libstdc++6 are already in debian:12-slim), and the CA store for https:// upstreams
# (S3, JWKS, OPA/OpenFGA, rediss://). check-deploy.py fails when a library's package is missing.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates \
      libboost-json1.81.0 libboost-url1.81.0 libyaml-cpp0.7 libspdlog1.10 libfmt9 \
      libhiredis0.14 liburing2 libssl3 \
 && rm -rf /var/lib/apt/lists/*

# A fixed, unprivileged UID/GID (10001): the Helm chart's securityContext names the same.
RUN groupadd --system --gid 10001 yatagarasu \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin yatagarasu \
 && mkdir -p /etc/yatagarasu /var/cache/yatagarasu /var/log/yatagarasu \
 && chown yatagarasu:yatagarasu /var/cache/yatagarasu /var/log/yatagarasu

COPY --from=build /yatagarasu /usr/local/bin/yatagarasu
COPY deploy/docker/healthcheck.sh /usr/local/bin/yatagarasu-healthcheck
# A default configuration driven by environment variables (S3_BUCKET, AWS_ACCESS_KEY_ID, ...);
# mount your own over it: -v $PWD/config.yaml:/etc/yatagarasu/config.yaml:ro
COPY deploy/docker/config.yaml /etc/yatagarasu/config.yaml

USER 10001:10001
WORKDIR /var/cache/yatagarasu
# 8080: server.port (the proxy). 9090: metrics.port (/metrics, /health, /ready; stays open while
# draining, so it is the port to health-check).
EXPOSE 8080 9090
# SIGTERM drains for up to shutdown.timeout_seconds (default 30): give `docker stop -t` more.
STOPSIGNAL SIGTERM
# No curl in the image: bash's /dev/tcp asks GET /health on YG_HEALTH_PORT (default 9090, the
# default config's metrics.port; set it to server.port when the config has no metrics.port).
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/yatagarasu-healthcheck"]
ENTRYPOINT ["/usr/local/bin/yatagarasu"]
CMD ["--config", "/etc/yatagarasu/config.yaml"]
