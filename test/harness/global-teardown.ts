import type { ControlPlane } from '../../controller/local/control-plane.ts';
import type { TestRegistry } from './registry.ts';

export default async function globalTeardown(): Promise<void> {
  const shared = globalThis as { __controlPlane?: ControlPlane; __registry?: TestRegistry };
  await Promise.all([shared.__controlPlane?.stop(), shared.__registry?.stop()]);
}
