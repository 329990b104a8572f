# VirtFleet runs its TypeScript sources directly on Node.js 24 (type stripping), so the image
# holds the production dependencies and the sources, nothing compiled. It ships only what
# `virtfleet run` and `virtfleet validate` load: controller/ (without its tests), the CRDs and
# KubeVirt's and CDI's schemas (schemas/kubevirt, which `validate` checks VM templates against).
# Neither test/ nor sim/ is in it: `up` and `sim` (the local simulated cluster) are developer
# commands that build kube-apiserver and etcd with Go, which the image does not have either.
# Nothing is written at run time outside /tmp, so the root filesystem can be read-only (the
# Helm chart mounts an emptyDir on /tmp), and it runs as a non-root user.
FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:24-bookworm-slim AS sources
WORKDIR /app
COPY controller ./controller
RUN find controller -name '*.test.ts' -delete

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY --from=sources /app/controller ./controller
COPY crds ./crds
COPY schemas ./schemas
# 65532: the conventional non-root uid (distroless "nonroot"); numeric so that runAsNonRoot can
# verify it without a passwd lookup.
USER 65532:65532
ENTRYPOINT ["node", "controller/cli/main.ts"]
CMD ["run", "--leader-elect"]
