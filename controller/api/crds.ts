// The two CustomResourceDefinitions, built from the schema data. Nothing here is hand-written
// YAML: `npm run generate` serialises these objects into crds/.
import { API_VERSION, GROUP, VERSION } from './schema/common.ts';
import type { Schema } from './schema/dsl.ts';
import { goldenImageSpec, goldenImageStatus } from './schema/goldenimage.ts';
import { MAX_FLEET_NAME_LENGTH, vmFleetSpec, vmFleetStatus } from './schema/vmfleet.ts';

export { API_VERSION, GROUP, VERSION };

interface KindDefinition {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  description: string;
  spec: Schema;
  status: Schema;
  rootRules?: Schema['x-kubernetes-validations'];
  printerColumns: Record<string, unknown>[];
  scale?: boolean;
}

const readyColumn = { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status', description: 'Whether the resource is Ready.' };
const messageColumn = { name: 'Message', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].message', priority: 1, description: 'Why it is or is not Ready.' };
const ageColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

export const KINDS: Record<'GoldenImage' | 'VMFleet', KindDefinition> = {
  GoldenImage: {
    kind: 'GoldenImage',
    plural: 'goldenimages',
    singular: 'goldenimage',
    shortNames: ['gimg', 'gimgs'],
    description: 'GoldenImage describes one image family that VMs boot from and its lifecycle: discovery, import, channels, promotion, deprecation and retention.',
    spec: goldenImageSpec,
    status: goldenImageStatus,
    printerColumns: [
      readyColumn,
      { name: 'Latest', type: 'string', jsonPath: '.status.latestVersion', description: 'Newest Ready version.' },
      { name: 'Versions', type: 'integer', jsonPath: '.status.availableVersions', description: 'Versions VMs can boot (Ready, Deprecated or Obsolete).' },
      { name: 'Storage', type: 'string', jsonPath: '.spec.storage.type', description: 'How versions are materialised.' },
      ageColumn,
      messageColumn,
    ],
  },
  VMFleet: {
    kind: 'VMFleet',
    plural: 'vmfleets',
    singular: 'vmfleet',
    shortNames: ['vmfl', 'vmfls'],
    description: 'VMFleet is a pool of alike KubeVirt VirtualMachines stamped from one template and booted from one GoldenImage version, rolled out safely and kept where and how it should run.',
    spec: vmFleetSpec,
    status: vmFleetStatus,
    rootRules: [
      {
        rule: `size(self.metadata.name) <= ${MAX_FLEET_NAME_LENGTH}`,
        message: `fleet names are at most ${MAX_FLEET_NAME_LENGTH} characters so that <fleet>-<index> is a valid VM name`,
      },
    ],
    printerColumns: [
      readyColumn,
      { name: 'Desired', type: 'integer', jsonPath: '.spec.replicas', description: 'Desired VMs.' },
      { name: 'Current', type: 'integer', jsonPath: '.status.replicas', description: 'Existing VMs.' },
      { name: 'Updated', type: 'integer', jsonPath: '.status.updatedReplicas', description: 'VMs at the update revision.' },
      { name: 'Drifted', type: 'integer', jsonPath: '.status.driftedReplicas', description: 'VMs drifted from their desired state.' },
      { name: 'Migrating', type: 'integer', jsonPath: '.status.migratingReplicas', description: 'VMs being live-migrated.' },
      { name: 'Image', type: 'string', jsonPath: '.status.imageSummary', description: 'Image versions the VMs boot, with how many boot the fleet\'s current one.' },
      ageColumn,
      messageColumn,
    ],
    scale: true,
  },
};

/** Removes the keys that exist only for code generation. */
export function toOpenAPI(schema: Schema): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === 'tsType') continue;
    if (key === 'properties') {
      out[key] = Object.fromEntries(Object.entries(value as Record<string, Schema>).map(([k, v]) => [k, toOpenAPI(v)]));
    } else if (key === 'items' || key === 'additionalProperties') {
      out[key] = toOpenAPI(value as Schema);
    } else {
      out[key] = value;
    }
  }
  return out;
}

/** The whole object schema of a kind, as the API server and the offline validator see it. */
export function rootSchema(def: KindDefinition): Schema {
  return {
    type: 'object',
    description: def.description,
    properties: {
      apiVersion: { type: 'string', description: 'APIVersion of this object: virtfleet.io/v1alpha1.', maxLength: 64 },
      kind: { type: 'string', description: `Kind of this object: ${def.kind}.`, maxLength: 64 },
      // The API server forbids anything but name and generateName rules on metadata, even a description.
      metadata: { type: 'object' } as Schema,
      spec: def.spec,
      status: def.status,
    },
    required: ['spec'],
    ...(def.rootRules ? { 'x-kubernetes-validations': def.rootRules } : {}),
  };
}

export function customResourceDefinition(def: KindDefinition): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${def.plural}.${GROUP}`, labels: { 'app.kubernetes.io/name': 'virtfleet', 'app.kubernetes.io/part-of': 'virtfleet' } },
    spec: {
      group: GROUP,
      names: { kind: def.kind, listKind: `${def.kind}List`, plural: def.plural, singular: def.singular, shortNames: def.shortNames, categories: ['virtfleet'] },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: toOpenAPI(rootSchema(def)) },
          subresources: {
            status: {},
            ...(def.scale ? { scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.labelSelector' } } : {}),
          },
          additionalPrinterColumns: def.printerColumns,
        },
      ],
    },
  };
}
