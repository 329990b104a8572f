// The simulator's view of the cluster: one informer per kind (per namespace when the simulator
// is scoped to namespaces), plus the indexes its controllers need.
import type { KubeConfig, KubernetesListObject, KubernetesObject, V1Node, V1PersistentVolumeClaim } from '@kubernetes/client-node';
import type { V1VirtualMachine, V1VirtualMachineInstance, V1VirtualMachineInstanceMigration } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';
import type { KubeClient } from '../controller/kube/client.ts';
import { pathOf, RESOURCES, type Resource } from '../controller/kube/resources.ts';
import { Informer, type Handler } from '../controller/runtime/informer.ts';

/** Several informers of one kind (one per namespace) read as one store. */
export class Store<T extends KubernetesObject> {
  private readonly informers: Informer<T>[];

  constructor(kc: KubeConfig, client: KubeClient, res: Resource, namespaces: string[]) {
    const scopes = res.namespaced && namespaces.length > 0 ? namespaces : [undefined];
    this.informers = scopes.map((namespace) => new Informer<T>(kc, {
      path: pathOf(res, namespace),
      list: () => client.list<T>(res, { namespace }) as Promise<KubernetesListObject<T>>,
    }));
  }

  on(handler: Handler<T>): void {
    for (const i of this.informers) i.on(handler);
  }

  get(namespace: string | undefined, name: string): T | undefined {
    for (const i of this.informers) {
      const obj = i.get(name, namespace);
      if (obj) return obj;
    }
    return undefined;
  }

  list(namespace?: string): T[] {
    return this.informers.flatMap((i) => [...i.list(namespace)]);
  }

  async start(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.start()));
  }

  async stop(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.stop()));
  }
}

export interface DataVolume extends KubernetesObject {
  spec?: {
    source?: Record<string, Record<string, unknown> | undefined>;
    sourceRef?: { kind: string; namespace?: string; name: string };
    storage?: Record<string, unknown>;
    pvc?: Record<string, unknown>;
  };
  status?: { phase?: string; progress?: string; restartCount?: number; claimName?: string; conditions?: Record<string, unknown>[] };
}

export interface DataSource extends KubernetesObject {
  spec?: { source?: { pvc?: { namespace?: string; name: string }; dataSource?: { namespace?: string; name: string } } };
  status?: { conditions?: Record<string, unknown>[]; source?: Record<string, unknown> };
}

export class World {
  readonly nodes: Store<V1Node>;
  readonly vms: Store<V1VirtualMachine & KubernetesObject>;
  readonly vmis: Store<V1VirtualMachineInstance & KubernetesObject>;
  readonly migrations: Store<V1VirtualMachineInstanceMigration & KubernetesObject>;
  readonly pvcs: Store<V1PersistentVolumeClaim>;
  readonly dataVolumes: Store<DataVolume>;
  readonly dataSources: Store<DataSource>;

  constructor(kc: KubeConfig, client: KubeClient, namespaces: string[]) {
    this.nodes = new Store(kc, client, RESOURCES.node, namespaces);
    this.vms = new Store(kc, client, RESOURCES.vm, namespaces);
    this.vmis = new Store(kc, client, RESOURCES.vmi, namespaces);
    this.migrations = new Store(kc, client, RESOURCES.vmim, namespaces);
    this.pvcs = new Store(kc, client, RESOURCES.pvc, namespaces);
    this.dataVolumes = new Store(kc, client, RESOURCES.dataVolume, namespaces);
    this.dataSources = new Store(kc, client, RESOURCES.dataSource, namespaces);
  }

  private get stores(): Store<KubernetesObject>[] {
    return [this.nodes, this.vms, this.vmis, this.migrations, this.pvcs, this.dataVolumes, this.dataSources] as Store<KubernetesObject>[];
  }

  async start(): Promise<void> {
    await Promise.all(this.stores.map((s) => s.start()));
  }

  async stop(): Promise<void> {
    await Promise.all(this.stores.map((s) => s.stop()));
  }

  migrationsOf(namespace: string, vmiName: string): (V1VirtualMachineInstanceMigration & KubernetesObject)[] {
    return this.migrations.list(namespace).filter((m) => m.spec?.vmiName === vmiName);
  }
}
