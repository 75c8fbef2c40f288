# One image for every fleetcap app; docker-compose.yml picks the app with its command (node <package>/dist/main.js).
# The build stage compiles every package (npm run build: tsc -b, and src/'s other files copied to dist/); the
# runtime stage holds the production dependencies and the compiled build only: no TypeScript, no tsx.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
COPY lib/package.json lib/
COPY cli/package.json cli/
COPY apps/listener/package.json apps/listener/
COPY apps/sniffer/package.json apps/sniffer/
COPY apps/splitcap/package.json apps/splitcap/
COPY apps/session-worker/package.json apps/session-worker/
COPY apps/config-sync/package.json apps/config-sync/
COPY apps/forecast/package.json apps/forecast/
COPY apps/detector/package.json apps/detector/
COPY apps/console/package.json apps/console/
COPY apps/refusal-exporter/package.json apps/refusal-exporter/
# onnxruntime-node would fetch optional GPU binaries at install; forecast runs on the CPU build it ships.
ENV ONNXRUNTIME_NODE_INSTALL=skip
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpcap-dev tcpdump mariadb-client ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
COPY lib/package.json lib/
COPY cli/package.json cli/
COPY apps/listener/package.json apps/listener/
COPY apps/sniffer/package.json apps/sniffer/
COPY apps/splitcap/package.json apps/splitcap/
COPY apps/session-worker/package.json apps/session-worker/
COPY apps/config-sync/package.json apps/config-sync/
COPY apps/forecast/package.json apps/forecast/
COPY apps/detector/package.json apps/detector/
COPY apps/console/package.json apps/console/
COPY apps/refusal-exporter/package.json apps/refusal-exporter/
ENV ONNXRUNTIME_NODE_INSTALL=skip
RUN npm ci --omit=dev --no-audit --no-fund
COPY --from=build /app/lib/dist lib/dist
COPY --from=build /app/cli/dist cli/dist
COPY --from=build /app/apps/listener/dist apps/listener/dist
COPY --from=build /app/apps/sniffer/dist apps/sniffer/dist
COPY --from=build /app/apps/splitcap/dist apps/splitcap/dist
COPY --from=build /app/apps/session-worker/dist apps/session-worker/dist
COPY --from=build /app/apps/config-sync/dist apps/config-sync/dist
COPY --from=build /app/apps/forecast/dist apps/forecast/dist
COPY --from=build /app/apps/detector/dist apps/detector/dist
COPY --from=build /app/apps/console/dist apps/console/dist
COPY --from=build /app/apps/refusal-exporter/dist apps/refusal-exporter/dist
COPY --from=build /app/stack/dist stack/dist
# Read at run time: the migrations (fleetcap migrate) and the model forecast serves.
COPY sql sql
COPY model/model.onnx model/model-card.json model/
ENV NODE_ENV=production
ENTRYPOINT ["node"]
CMD ["cli/dist/main.js", "--help"]
