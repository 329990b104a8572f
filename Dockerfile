# VirtFleet runs its TypeScript sources directly on Node.js 24 (type stripping), so the image
# holds the production dependencies and the sources, nothing compiled.
FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY controller ./controller
COPY sim ./sim
COPY crds ./crds
# KubeVirt's and CDI's schemas, which `virtfleet validate` checks VM templates against.
COPY test/fixtures/crds ./test/fixtures/crds
USER 65532:65532
ENTRYPOINT ["node", "controller/cli/main.ts"]
CMD ["run", "--leader-elect"]
