import type { ControlPlane } from '../../controller/local/control-plane.ts';

export default async function globalTeardown(): Promise<void> {
  await (globalThis as { __controlPlane?: ControlPlane }).__controlPlane?.stop();
}
