#!/usr/bin/env bash
# Compiles controller/ (without its tests) and the benchmarks' controller child to plain
# JavaScript under dist/, with the repository's layout (dist/controller/cli/main.js, ...).
# Node.js 24 runs the .ts sources directly by stripping their types, but that stripper (a
# WebAssembly module) stays loaded for the life of the process and costs about 25 MiB of RSS;
# the production image and the memory benchmarks run the compiled JavaScript instead.
#   hack/build-js.sh            fails on type errors, as the image build must
set -euo pipefail
cd "$(dirname "$0")/.."
# Not emptied first: a benchmark's controller may be running from dist/ while another builds.
node_modules/.bin/tsc -p hack/tsconfig.build.json
# Modules resolve from dist/ as from the repository (package.json: "type": "module").
cp package.json dist/package.json
ln -sfn ../node_modules dist/node_modules
