// The VirtFleet process: one manager (client, shared informers, one Lease) running the fleet
// controller and the GoldenImage controller.
import type { FleetReconciler } from './fleet/reconciler.ts';
import { fleetController, type FleetControllerOptions } from './fleet/setup.ts';
import type { ImageReconciler } from './image/reconciler.ts';
import type { RetentionGuardRef } from './image/retention-guard.ts';
import { imageController } from './image/setup.ts';
import { Manager, type ManagerOptions } from './runtime/manager.ts';

export { DEFAULT_LEASE_NAME, type LeaderElectionConfig } from './runtime/manager.ts';

export type VirtFleetOptions = ManagerOptions &
  Omit<FleetControllerOptions, 'onReconciler' | 'onReconcile'> & {
    /** Per request to a registry or HTTP server, for image discovery (default 30 s). */
    sourceTimeoutMs?: number;
    /** The retention guard's ConfigMap (default virtfleet-system/virtfleet-retiring-versions); false: none. */
    retentionGuard?: RetentionGuardRef | false;
  };

export class VirtFleetManager {
  readonly manager: Manager;
  /** The fleet reconciler of the current term, for tests that look at what it remembers. */
  reconciler: FleetReconciler | undefined;
  /** The GoldenImage reconciler of the current term. */
  imageReconciler: ImageReconciler | undefined;
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
    this.manager.add('goldenimage', (ctx) =>
      imageController(ctx, {
        namespace: options.namespace,
        ...(options.resyncMs !== undefined ? { resyncMs: options.resyncMs } : {}),
        ...(options.sourceTimeoutMs !== undefined ? { sourceTimeoutMs: options.sourceTimeoutMs } : {}),
        ...(options.retentionGuard !== undefined ? { retentionGuard: options.retentionGuard } : {}),
        onReconciler: (r) => (this.imageReconciler = r),
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
