# One image for every fleetcap app; docker-compose.yml picks the app with its command.
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
# onnxruntime-node would fetch optional GPU binaries at install; forecast runs on the CPU build it ships.
ENV ONNXRUNTIME_NODE_INSTALL=skip
RUN npm ci --no-audit --no-fund
COPY . .
ENV NODE_ENV=production
ENTRYPOINT ["node", "--import", "tsx"]
CMD ["cli/src/main.ts", "--help"]
