// What every simulated controller is handed: the client for writes, the world it reads, time,
// configuration, seeded chance, and a way to (re)queue keys of any kind.
import type { KubeClient } from '../controller/kube/client.ts';
import type { Logger } from '../controller/runtime/logger.ts';
import type { SimClock } from './clock.ts';
import type { SimConfig } from './config.ts';
import type { SeededChance } from './random.ts';
import type { FailingImages } from './vmi/failing-images.ts';
import type { Usage } from './usage.ts';
import type { World } from './world.ts';

export type QueueKind = 'vm' | 'vmi' | 'migration' | 'dataVolume' | 'dataSource' | 'pvc';

export type SimLogger = Logger;

export interface SimContext {
  client: KubeClient;
  world: World;
  clock: SimClock;
  config: SimConfig;
  chance: SeededChance;
  usage: Usage;
  /** Images whose VMIs fail to start, from the ConfigMap kube-system/virtfleet-sim. */
  failingImages: FailingImages;
  /** Migrations moved out of Pending whose move the cache has not shown yet: they count against the limits. */
  startedMigrations: Set<string>;
  /** Queues a key now, or after `realDelayMs` real milliseconds. */
  enqueue(kind: QueueKind, key: string, realDelayMs?: number): void;
  log: SimLogger;
}

/** A reconcile function of one kind: level-triggered on the key, reading the world's caches. */
export type Reconciler = (ctx: SimContext, key: string) => Promise<void>;
