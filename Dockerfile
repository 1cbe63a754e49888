# syntax=docker/dockerfile:1
# One image for both programs (the Deployments choose which one with their args):
#   docker build -t redis-dr:0.1.0 .
#   webhook:    node --max-semi-space-size=8 --heap-growing-percent=20 webhook/main.js --cert-dir /tmp/k8s-webhook-server/serving-certs --port 9443 --health-port 8081
#   controller: node --max-semi-space-size=4 --heap-growing-percent=20 controller/main.js --metrics-port 8080 --leader-elect
#   (both with MALLOC_ARENA_MAX=2 in their environment)
# manifests/*/deployment.yaml hold the authoritative Node options and environment, and say why each.
# The TypeScript sources are compiled in the build stage; the final image holds the compiled JavaScript, the
# production dependencies only, and runs as a non-root user.
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json ./
COPY schemas/ schemas/
COPY kube-common/ kube-common/
COPY webhook/ webhook/
COPY controller/ controller/
# Type-checks and compiles; the sources' `.ts` import specifiers become `.js` in the output.
RUN npx tsc --project tsconfig.json --noEmit false --allowImportingTsExtensions false --rewriteRelativeImportExtensions --rootDir . --outDir dist

FROM ${NODE_IMAGE} AS production-dependencies
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts && npm cache clean --force

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
COPY package.json ./
COPY --from=production-dependencies /app/node_modules ./node_modules
COPY --from=build /src/dist/schemas ./schemas
COPY --from=build /src/dist/kube-common ./kube-common
COPY --from=build /src/dist/webhook ./webhook
COPY --from=build /src/dist/controller ./controller
# Numeric, so Kubernetes' runAsNonRoot can verify it; the manifests run as the same user.
USER 65532:65532
ENTRYPOINT ["node"]
CMD ["webhook/main.js"]
