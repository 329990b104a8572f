// Jest runs in native ESM mode; ts-jest only transpiles (the typecheck step checks types).
// Imports keep their .ts extensions, which jest resolves and Node's type stripping loads (the
// global setup runs outside jest's module system).
const transform = {
  '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: { allowImportingTsExtensions: true, rewriteRelativeImportExtensions: false, noEmit: false } }],
};
const common = {
  extensionsToTreatAsEsm: ['.ts'],
  transform,
  testEnvironment: 'node',
  // hack/build-js.sh compiles into dist/ (its own package.json): not a module jest should see.
  modulePathIgnorePatterns: ['<rootDir>/dist/'],
};

export default {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/controller/**/*.test.ts', '<rootDir>/sim/**/*.test.ts', '<rootDir>/argocd/**/*.test.ts'] },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/**/*.test.ts'],
      globalSetup: '<rootDir>/test/harness/global-setup.ts',
      globalTeardown: '<rootDir>/test/harness/global-teardown.ts',
    },
  ],
  testTimeout: 120000,
  // On two cores jest runs the files in its own process. Integration tests start real servers,
  // watches and child processes; a handle one of them leaks (a retry timer of an informer that a
  // failed test never stopped) would keep the run from ever ending, so CI would print no result.
  // The leftovers step of .ci/run still fails on any server or directory left behind.
  forceExit: true,
};
