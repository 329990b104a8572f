// The VirtFleet process: one manager (client, shared informers, one Lease) running the fleet
// controller and the GoldenImage controller.
import type { FleetReconciler } from './fleet/reconciler.ts';
import { fleetController, type FleetControllerOptions } from './fleet/setup.ts';
import { Manager, type ManagerOptions } from './runtime/manager.ts';

export { DEFAULT_LEASE_NAME, type LeaderElectionConfig } from './runtime/manager.ts';

export type VirtFleetOptions = ManagerOptions & Omit<FleetControllerOptions, 'onReconciler' | 'onReconcile'>;

export class VirtFleetManager {
  readonly manager: Manager;
  /** The fleet reconciler of the current term, for tests that look at what it remembers. */
  reconciler: FleetReconciler | undefined;
  /** Fleet reconciles run so far (resyncs included), for tests and logs. */
  reconciles = 0;

  constructor(options: VirtFleetOptions) {
    this.manager = new Manager(options);
    this.manager.add('vmfleet', (ctx) =>
      fleetController(ctx, {
        ...options,
        onReconciler: (r) => (this.reconciler = r),
        onReconcile: () => void this.reconciles++,
      }),
    );
  }

  get identity(): string {
    return this.manager.identity;
  }

  get client() {
    return this.manager.client;
  }

  start(): Promise<void> {
    return this.manager.start();
  }

  stop(): Promise<void> {
    return this.manager.stop();
  }
}
