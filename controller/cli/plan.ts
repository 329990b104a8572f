// `virtfleet plan -f <file|dir|->`: what applying VMFleet and GoldenImage manifests would do to the
// VMs of the live cluster, decided by the controller's own code (preview.ts over decideFleet).
// Read only: it lists and gets, and writes nothing.
import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import type { V1VirtualMachine, V1VirtualMachineInstance } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { V1Node } from '@kubernetes/client-node';
import type { GoldenImage, VMFleet } from '../api/objects.ts';
import { DEFAULT_BACKOFF, MIGRATION_FINAL_PHASES } from '../core/fleet/migration.ts';
import { ApiError, type KubeClient } from '../kube/client.ts';
import { RESOURCES } from '../kube/resources.ts';
import { NO_FLEET_MEMORY, ownedBy, type FleetSnapshot } from '../fleet/decide.ts';
import type { Migration } from '../fleet/remediation.ts';
import { connect, describeError, type ClusterFlags } from './cluster.ts';
import { withSchemaDefaults } from './defaults.ts';
import { estimateTimes } from './estimates.ts';
import { listManifestFiles, parseDocuments, readDocuments, UnreadableInputError, type Document } from './manifests.ts';
import type { PlanOutput } from './outputs.ts';
import { planReport, renderPlan, type ImageChange } from './plan-output.ts';
import { proposedImage, simulateFleet, type Estimates, type FleetPlan } from './preview.ts';
import { forecastImage, onWaitingChannel, promotionHealth, withInstances, type FleetVMs } from './promotion.ts';
import { UsageError } from './client-config.ts';

export interface PlanFlags extends ClusterFlags {
  filename: string[];
  /** Checked by the program's -o choices. */
  output: PlanOutput;
  exitCode?: boolean;
  migrationBudget: string;
}

export const EXIT_NO_CHANGES = 0;
export const EXIT_CHANGES = 1;
export const EXIT_ERROR = 2;

const GROUP = 'virtfleet.io/';

/** The manifests of -f, stdin for "-". */
function documentsOf(paths: readonly string[]): Document[] {
  return paths.flatMap((p) => (p === '-' ? parseDocuments(readFileSync(0, 'utf8'), '<stdin>') : listManifestFiles(p).flatMap(readDocuments)));
}

export interface Proposed {
  fleets: VMFleet[];
  images: GoldenImage[];
}

/**
 * The VMFleets and GoldenImages of the documents, with the CRD defaults applied as the API server
 * would store them (a manifest that leaves a field to its default plans as one that spells it
 * out); anything else is an error a user made.
 */
export function proposedObjects(documents: readonly Document[], namespace: string): Proposed {
  const out: Proposed = { fleets: [], images: [] };
  for (const doc of documents) {
    const { apiVersion, kind } = doc.object as { apiVersion?: unknown; kind?: unknown };
    const metadata = (doc.object.metadata ?? {}) as { name?: string; namespace?: string };
    const where = `${doc.file}: document ${doc.index}`;
    if (typeof apiVersion !== 'string' || !apiVersion.startsWith(GROUP) || (kind !== 'VMFleet' && kind !== 'GoldenImage')) {
      throw new UsageError(`${where}: ${String(kind ?? 'an object without kind')} is not a VMFleet or GoldenImage (plan previews those only)`);
    }
    if (!metadata.name) throw new UsageError(`${where}: ${kind} has no metadata.name`);
    const object = withSchemaDefaults({ ...doc.object, metadata: { ...metadata, namespace: metadata.namespace ?? namespace } });
    if (kind === 'VMFleet') out.fleets.push(object as unknown as VMFleet);
    else out.images.push(object as unknown as GoldenImage);
  }
  return out;
}

const nameOf = (o: { metadata?: { name?: string } }) => o.metadata!.name!;
const keyOf = (o: { metadata?: { name?: string; namespace?: string } }) => `${o.metadata!.namespace}/${o.metadata!.name}`;

/** What the cluster holds in one namespace, listed once. */
interface NamespaceView {
  vms: V1VirtualMachine[];
  vmis: V1VirtualMachineInstance[];
  migrations: Migration[];
}

class ClusterReader {
  private readonly namespaces = new Map<string, Promise<NamespaceView>>();
  private nodesList: Promise<V1Node[]> | undefined;

  private readonly client: KubeClient;

  constructor(client: KubeClient) {
    this.client = client;
  }

  namespace(ns: string): Promise<NamespaceView> {
    let view = this.namespaces.get(ns);
    if (!view) {
      view = Promise.all([
        this.client.list<V1VirtualMachine>(RESOURCES.vm, { namespace: ns }),
        this.client.list<V1VirtualMachineInstance>(RESOURCES.vmi, { namespace: ns }),
        this.client.list<Migration>(RESOURCES.vmim, { namespace: ns }),
      ]).then(([vms, vmis, migrations]) => ({ vms: vms.items, vmis: vmis.items, migrations: migrations.items }));
      this.namespaces.set(ns, view);
    }
    return view;
  }

  nodes(): Promise<V1Node[]> {
    this.nodesList ??= this.client.list<V1Node>(RESOURCES.node).then((l) => l.items);
    return this.nodesList;
  }

  /** Migrations in flight anywhere (they hold the cluster budget); the fleet's namespace when listing all is refused. */
  async inFlight(fallback: string): Promise<number> {
    const all = await this.client.list<Migration>(RESOURCES.vmim).catch(async (err: unknown) => {
      if (err instanceof ApiError && err.status === 403) return { items: (await this.namespace(fallback)).migrations };
      throw err;
    });
    return all.items.filter((m) => !MIGRATION_FINAL_PHASES.includes(m.status?.phase ?? '')).length;
  }
}

/** A GoldenImage of -f: as it would be recorded, as it is, the fleets that use it and their VMs now. */
interface PlannedImage {
  image: GoldenImage;
  live: GoldenImage | undefined;
  users: VMFleet[];
  running: FleetVMs[];
}

export async function planCommand(flags: PlanFlags): Promise<number> {
  const budget = Number(flags.migrationBudget);
  if (!Number.isInteger(budget) || budget < 0) throw new UsageError(`--migration-budget ${flags.migrationBudget}: a whole number ≥ 0`);
  const cluster = connect(flags);
  const proposed = proposedObjects(documentsOf(flags.filename), cluster.defaultNamespace);
  const { client } = cluster;
  const reader = new ClusterReader(client);
  const now = Date.now();

  // GoldenImages: the proposed spec through the image core (the promotion gate counting the VMs
  // that run now), then every fleet that uses the image.
  const images = new Map<string, PlannedImage>();
  const fleetsToPlan = new Map(proposed.fleets.map((f) => [keyOf(f), f]));
  for (const doc of proposed.images) {
    const ns = doc.metadata!.namespace!;
    const live = await client.get<GoldenImage>(RESOURCES.goldenImage, { namespace: ns, name: nameOf(doc) });
    const users = await fleetsUsing(client, ns, nameOf(doc));
    const running = await Promise.all(users.map(async (f) => {
      const view = await reader.namespace(f.metadata!.namespace!);
      return { vms: withInstances(view.vms.filter((vm) => ownedBy(vm, f)), view.vmis), minReadySeconds: f.spec.minReadySeconds ?? 0 };
    }));
    const image = live ? proposedImage(live, doc.spec, now, promotionHealth(live, live.status?.versions ?? [], running, now)) : { ...doc, status: {} };
    images.set(keyOf(doc), { image, live, users, running });
    for (const f of users) if (!fleetsToPlan.has(keyOf(f))) fleetsToPlan.set(keyOf(f), f);
  }

  const observed: { vmis: V1VirtualMachineInstance[]; migrations: Migration[] } = { vmis: [], migrations: [] };
  for (const f of fleetsToPlan.values()) observed.vmis.push(...(await reader.namespace(f.metadata!.namespace!)).vmis);
  for (const f of fleetsToPlan.values()) observed.migrations.push(...(await reader.namespace(f.metadata!.namespace!)).migrations);
  const estimates: Estimates = estimateTimes(observed.vmis, observed.migrations);
  const planned = new Map<string, { plan: FleetPlan; world: FleetSnapshot }>();
  for (const fleet of fleetsToPlan.values()) {
    const ns = fleet.metadata!.namespace!;
    const live = await client.get<VMFleet>(RESOURCES.vmFleet, { namespace: ns, name: nameOf(fleet) });
    const merged: VMFleet = live
      ? { ...live, spec: fleet.spec, metadata: { ...live.metadata, generation: (live.metadata?.generation ?? 0) + (isDeepStrictEqual(live.spec, fleet.spec) ? 0 : 1) } }
      : { ...fleet, metadata: { ...fleet.metadata, uid: 'planned', generation: 1 } };
    const view = await reader.namespace(ns);
    const imageNs = fleet.spec.image.namespace ?? ns;
    const image = images.get(`${imageNs}/${fleet.spec.image.name}`)?.image ?? (await client.get<GoldenImage>(RESOURCES.goldenImage, { namespace: imageNs, name: fleet.spec.image.name }));
    const snapshot: FleetSnapshot = {
      fleet: merged,
      vms: live ? view.vms.filter((vm) => ownedBy(vm, merged)) : [],
      foreignVMs: view.vms.filter((vm) => !live || !ownedBy(vm, merged)).map(nameOf),
      vmis: view.vmis,
      nodes: await reader.nodes(),
      goldenImage: image,
      migrations: view.migrations,
      budget: { slots: Math.max(0, budget - (await reader.inFlight(ns))), pending: new Map() },
      backoff: DEFAULT_BACKOFF,
      now,
      memory: NO_FLEET_MEMORY,
    };
    planned.set(keyOf(fleet), simulateFleet(snapshot, estimates, !!live));
  }

  // When the channels the change leaves behind would catch up, and the fleets on them meanwhile.
  const imageChanges: ImageChange[] = [];
  for (const { image, live, users, running } of images.values()) {
    const after = users.map((f) => planned.get(keyOf(f))!.world).map((w) => ({ vms: withInstances(w.vms, w.vmis), minReadySeconds: w.fleet.spec.minReadySeconds ?? 0, until: w.now }));
    const promotions = live ? forecastImage(image, running, after, now) : [];
    imageChanges.push({ namespace: image.metadata!.namespace!, name: nameOf(image), exists: !!live, ...imageDiff(live, image), promotions, fleets: users.map(keyOf).sort() });
    for (const p of promotions) {
      for (const f of users) {
        const entry = planned.get(keyOf(f))!;
        if (entry.plan.exists && fleetsToPlan.get(keyOf(f))!.spec.image.channel === p.channel) entry.plan = onWaitingChannel(entry.plan, p);
      }
    }
  }
  const fleetPlans = [...planned.values()].map((p) => p.plan);
  const report = planReport(fleetPlans, imageChanges, estimates);
  process.stdout.write(renderPlan(report, flags.output));
  return flags.exitCode && report.changes ? EXIT_CHANGES : EXIT_NO_CHANGES;
}

/** The fleets, in any namespace this user may list, whose spec.image names the GoldenImage. */
async function fleetsUsing(client: KubeClient, namespace: string, name: string): Promise<VMFleet[]> {
  const list = await client.list<VMFleet>(RESOURCES.vmFleet).catch(async (err: unknown) => {
    if (err instanceof ApiError && err.status === 403) return client.list<VMFleet>(RESOURCES.vmFleet, { namespace });
    throw err;
  });
  return list.items.filter((f) => f.spec.image.name === name && (f.spec.image.namespace ?? f.metadata!.namespace) === namespace);
}

/** The channels that move and the version phases that change between the live image and the proposed one. */
function imageDiff(live: GoldenImage | undefined, next: GoldenImage): Pick<ImageChange, 'channels' | 'versions'> {
  const was = new Map((live?.status?.channels ?? []).map((c) => [c.name, c.version]));
  const is = new Map((next.status?.channels ?? []).map((c) => [c.name, c.version]));
  const channels = [...new Set([...was.keys(), ...is.keys()])].filter((c) => was.get(c) !== is.get(c)).map((name) => ({ name, ...(was.get(name) ? { from: was.get(name)! } : {}), ...(is.get(name) ? { to: is.get(name)! } : {}) }));
  const phaseWas = new Map((live?.status?.versions ?? []).map((v) => [v.name, v.phase]));
  const phaseIs = new Map((next.status?.versions ?? []).map((v) => [v.name, v.phase]));
  const versions = [...phaseIs.keys()].filter((v) => phaseWas.get(v) !== phaseIs.get(v)).map((name) => ({ name, ...(phaseWas.get(name) ? { from: phaseWas.get(name)! } : {}), to: phaseIs.get(name)! }));
  return { channels, versions };
}

/** Runs the command, turning every error a user can act on into one line and exit code 2. */
export async function plan(flags: PlanFlags): Promise<void> {
  try {
    process.exitCode = await planCommand(flags);
  } catch (err) {
    if (err instanceof UnreadableInputError || err instanceof UsageError || !(err instanceof TypeError || err instanceof RangeError)) {
      console.error(`error: ${describeError(err, serverOf(flags))}`);
      process.exitCode = EXIT_ERROR;
      return;
    }
    throw err;
  }
}

function serverOf(flags: ClusterFlags): string {
  try {
    return connect(flags).server;
  } catch {
    return 'the configured cluster';
  }
}
