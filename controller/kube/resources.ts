// The API resources VirtFleet and the simulator read and write, and their URL paths.
export interface Resource {
  group: string; // '' for the core group
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
}

const r = (group: string, version: string, kind: string, plural: string, namespaced = true): Resource => ({ group, version, kind, plural, namespaced });

export const RESOURCES = {
  node: r('', 'v1', 'Node', 'nodes', false),
  namespace: r('', 'v1', 'Namespace', 'namespaces', false),
  pvc: r('', 'v1', 'PersistentVolumeClaim', 'persistentvolumeclaims'),
  secret: r('', 'v1', 'Secret', 'secrets'),
  configMap: r('', 'v1', 'ConfigMap', 'configmaps'),
  event: r('', 'v1', 'Event', 'events'),
  lease: r('coordination.k8s.io', 'v1', 'Lease', 'leases'),
  vm: r('kubevirt.io', 'v1', 'VirtualMachine', 'virtualmachines'),
  vmi: r('kubevirt.io', 'v1', 'VirtualMachineInstance', 'virtualmachineinstances'),
  vmim: r('kubevirt.io', 'v1', 'VirtualMachineInstanceMigration', 'virtualmachineinstancemigrations'),
  dataVolume: r('cdi.kubevirt.io', 'v1beta1', 'DataVolume', 'datavolumes'),
  dataSource: r('cdi.kubevirt.io', 'v1beta1', 'DataSource', 'datasources'),
  goldenImage: r('virtfleet.io', 'v1alpha1', 'GoldenImage', 'goldenimages'),
  vmFleet: r('virtfleet.io', 'v1alpha1', 'VMFleet', 'vmfleets'),
} as const;

export function apiVersionOf(res: Resource): string {
  return res.group ? `${res.group}/${res.version}` : res.version;
}

/** The URL path of a collection (no name) or of one object, optionally of its subresource. */
export function pathOf(res: Resource, namespace?: string, name?: string, subresource?: string): string {
  const prefix = res.group ? `/apis/${res.group}/${res.version}` : `/api/${res.version}`;
  const ns = res.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  const obj = name ? `/${encodeURIComponent(name)}` : '';
  const sub = name && subresource ? `/${subresource}` : '';
  return `${prefix}${ns}/${res.plural}${obj}${sub}`;
}
