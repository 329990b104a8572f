# VirtFleet's image holds the production dependencies and the controller compiled to plain
# JavaScript (hack/build-js.sh): Node.js 24 could run the TypeScript sources directly, but its
# type stripper stays loaded for the life of the process (about 25 MiB of RSS, measured with
# bench/controller-memory.ts). It ships only what `virtfleet run` and `virtfleet validate` load:
# controller/ (without its tests), the CRDs and KubeVirt's and CDI's schemas (schemas/kubevirt,
# which `validate` checks VM templates against). Neither test/ nor sim/ is in it: `up` and `sim`
# (the local simulated cluster) are developer commands that build kube-apiserver and etcd with
# Go, which the image does not have either. Nothing is written at run time outside /tmp, so the
# root filesystem can be read-only (the Helm chart mounts an emptyDir on /tmp), and it runs as a
# non-root user.
FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY hack/build-js.sh hack/tsconfig.build.json ./hack/
COPY controller ./controller
COPY bench/lib/controller-child.ts ./bench/lib/
COPY sim ./sim
RUN hack/build-js.sh

FROM node:24-bookworm-slim
ENV NODE_ENV=production
# A controller's allocations are small and short-lived: a 2 MiB young generation (V8's default
# grows to 32 MiB per semi-space) costs no measurable CPU per resync and saves about 35 MiB of RSS
# (bench/controller-memory.ts). The chart sets NODE_OPTIONS itself (controller.nodeOptions).
ENV NODE_OPTIONS=--max-semi-space-size=2
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY --from=build /app/dist/controller ./controller
COPY crds ./crds
COPY schemas ./schemas
# 65532: the conventional non-root uid (distroless "nonroot"); numeric so that runAsNonRoot can
# verify it without a passwd lookup.
USER 65532:65532
ENTRYPOINT ["node", "controller/cli/main.js"]
CMD ["run", "--leader-elect"]
