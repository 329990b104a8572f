// VMFleet: a pool of alike KubeVirt VirtualMachines (README "The API").
import { bool, enumOf, int, intOrPercent, list, obj, str, stringMap, type Schema } from './dsl.ts';
import { conditions, cronSchedule, dnsLabel, duration, observedGeneration, resourceName } from './common.ts';

export const RUN_STRATEGIES = ['Always', 'RerunOnFailure', 'Manual', 'Halted', 'Once'] as const;
export const UPDATE_STRATEGY_TYPES = ['RollingUpdate', 'OnDelete'] as const;
export const FALLBACKS = ['Restart', 'None'] as const;
export const MANUAL_EDIT_POLICIES = ['Revert', 'Report'] as const;
export const SCALE_DOWN_PRIORITIES = ['NotReady', 'OutdatedRevision', 'Drifted', 'Newest', 'Oldest', 'HighestIndex'] as const;
export const DISK_RETENTION = ['Delete', 'Retain'] as const;
/** Longest fleet name for which `<fleet>-<index>` stays a valid VM name (63 characters) at any index. */
export const MAX_FLEET_NAME_LENGTH = 52;

const labels = (what: string): Schema => stringMap(`Labels of the ${what}.`, { maxProperties: 64, valueMaxLength: 63 });
const annotations = (what: string): Schema => stringMap(`Annotations of the ${what}.`, { maxProperties: 64, valueMaxLength: 65536 });

// The VM template is KubeVirt's own VirtualMachineSpec. Only the fields VirtFleet's rules read are
// typed here; the whole spec is validated against KubeVirt's schema by `virtfleet validate` and by
// the API server when the VM is applied, which keeps this CRD far below kubectl's 256 KiB limit.
const vmiTemplate = obj(
  'The VirtualMachineInstance template (KubeVirt VirtualMachineInstanceTemplateSpec).',
  {
    metadata: obj('Metadata of the VMI.', { labels: labels('VMI'), annotations: annotations('VMI') }),
    spec: obj(
      'The VirtualMachineInstance spec (KubeVirt VirtualMachineInstanceSpec).',
      {
        volumes: list(
          'Volumes of the VMI; the one named by spec.image.volume is filled from the GoldenImage.',
          obj('A KubeVirt volume.', { name: dnsLabel('Name of the volume.') }, { required: ['name'], preserveUnknown: true }),
          { maxItems: 256 },
        ),
      },
      { preserveUnknown: true },
    ),
  },
);

const template = obj(
  'The VirtualMachine every replica is stamped from, in KubeVirt\'s own shape (metadata + spec).',
  {
    metadata: obj('Labels and annotations of each VM.', { labels: labels('VM'), annotations: annotations('VM') }),
    spec: obj(
      'KubeVirt VirtualMachineSpec of each VM.',
      {
        runStrategy: enumOf('KubeVirt run strategy of each VM.', RUN_STRATEGIES, { default: 'Always' }),
        // Typed only so the rule below can see it: CEL cannot read fields the schema leaves unknown.
        running: bool('Deprecated by KubeVirt in favour of runStrategy; refused here.'),
        template: vmiTemplate,
      },
      {
        required: ['template'],
        preserveUnknown: true,
        tsType: "import('@kubevirt-ui-ext/kubevirt-api/kubevirt').V1VirtualMachineSpec",
        rules: [{ rule: '!has(self.running)', message: 'spec.running is deprecated in KubeVirt; use runStrategy' }],
      },
    ),
  },
  { required: ['spec'] },
);

const image = obj(
  'Which GoldenImage version boots the fleet, and which template volume it fills.',
  {
    name: resourceName('Name of the GoldenImage.'),
    namespace: dnsLabel('Namespace of the GoldenImage; the fleet\'s namespace when unset. The image must share itself with this namespace.'),
    channel: dnsLabel('Follow this channel of the image.'),
    version: dnsLabel('Pin this version of the image.'),
    volume: dnsLabel('The template volume the image fills (a containerDisk or a DataVolume).'),
  },
  {
    required: ['name', 'volume'],
    rules: [{ rule: 'has(self.channel) != has(self.version)', message: 'image sets exactly one of channel or version' }],
  },
);

const rollingUpdate = obj(
  'Parameters of a RollingUpdate.',
  {
    maxUnavailable: intOrPercent('How many VMs may be unavailable during the update, a number or a percentage of replicas (rounded down).', { default: 1 }),
    maxSurge: intOrPercent('How many VMs may be created above replicas during the update, a number or a percentage (rounded up).', { default: 0 }),
    partition: int('VMs with an index below the partition keep the current revision (canary).', { minimum: 0, default: 0 }),
    pauseOnFailure: bool('Halt the rollout when a VM of the new revision fails to become Ready.', { default: true }),
  },
  {
    rules: [
      {
        rule: "!((self.maxUnavailable == 0 || self.maxUnavailable == '0%') && (self.maxSurge == 0 || self.maxSurge == '0%'))",
        message: 'maxUnavailable and maxSurge cannot both be zero',
      },
    ],
  },
);

const updateStrategy = obj(
  'How a changed template or image version reaches existing VMs.',
  {
    type: enumOf('RollingUpdate replaces VMs under the limits below; OnDelete updates a VM only when it is deleted.', UPDATE_STRATEGY_TYPES, { default: 'RollingUpdate' }),
    rollingUpdate,
  },
  { default: {}, rules: [{ rule: "self.type == 'RollingUpdate' || !has(self.rollingUpdate)", message: 'rollingUpdate is allowed only when type is RollingUpdate' }] },
);

const remediation = obj('What VirtFleet does when a running VM drifts from its desired state.', {
  liveMigration: obj('Live migration as the remedy for drift.', {
    enabled: bool('Repair drift by live migration.', { default: true }),
    maxConcurrent: int('Most migrations of this fleet in flight at once.', { minimum: 1, maximum: 100, default: 2 }),
    timeout: duration('A migration still running after this long is aborted and retried later.', '30m'),
    fallback: enumOf('What to do when a VM is not live-migratable: Restart it within maxUnavailable and the disruption window, or None (report only).', FALLBACKS, { default: 'None' }),
  }, { default: {} }),
  manualEdits: enumOf('Revert re-applies the template to a hand-edited VM; Report only reports it.', MANUAL_EDIT_POLICIES, { default: 'Revert' }),
  rebalance: obj('Optional topology rebalancing after failures.', {
    enabled: bool('Move VMs to restore the topology spread.', { default: false }),
    topologyKey: str('Node label whose values form the topology domains.', { maxLength: 317, minLength: 1, default: 'topology.kubernetes.io/zone' }),
    maxSkew: int('Largest allowed difference in VM count between two domains.', { minimum: 1, maximum: 1000, default: 1 }),
    coolDown: duration('Minimum time between two rebalancing moves of the fleet, so VMs never ping-pong.', '10m'),
  }, { default: {} }),
  disruptionWindow: obj(
    'When restarts may happen. Migrations may happen at any time.',
    {
      schedule: cronSchedule('Cron schedule of the window\'s start.'),
      duration: duration('How long the window stays open.'),
    },
    { required: ['schedule', 'duration'] },
  ),
}, { default: {} });

export const vmFleetSpec: Schema = obj(
  'The desired state of the fleet.',
  {
    replicas: int('Number of VMs.', { minimum: 0, maximum: 10000, default: 1 }),
    selector: obj(
      'Label selector of the fleet\'s VMs; must match the template\'s labels. Immutable.',
      { matchLabels: stringMap('Labels every VM of the fleet carries.', { maxProperties: 32, valueMaxLength: 63 }) },
      { required: ['matchLabels'], rules: [{ rule: 'self == oldSelf', message: 'selector is immutable' }] },
    ),
    image,
    template,
    nameGeneration: obj('Per-VM values stamped from the template, as KubeVirt\'s VirtualMachinePool does.', {
      appendIndexToSecretRefs: bool('Append -<index> to every Secret a VM references.', { default: false }),
      appendIndexToConfigMapRefs: bool('Append -<index> to every ConfigMap a VM references.', { default: false }),
    }, { default: {} }),
    updateStrategy,
    paused: bool('Stop rolling out changes; drift repair continues.', { default: false }),
    minReadySeconds: int('Seconds a VM must be Ready before it counts as available.', { minimum: 0, maximum: 86400, default: 0 }),
    remediation,
    scaleDown: obj('Which VMs go first when the fleet shrinks.', {
      priorities: list('Ordering rules applied in turn; ties go to the highest index.', enumOf('An ordering rule.', SCALE_DOWN_PRIORITIES), {
        maxItems: 6,
        set: true,
        default: ['NotReady', 'OutdatedRevision', 'HighestIndex'],
      }),
    }, { default: {} }),
    diskRetention: obj('Whether the DataVolumes of removed VMs are kept, as StatefulSets\' PVC retention policy.', {
      whenScaled: enumOf('When the fleet scales down.', DISK_RETENTION, { default: 'Delete' }),
      whenDeleted: enumOf('When the fleet is deleted.', DISK_RETENTION, { default: 'Delete' }),
    }, { default: {} }),
    autohealing: obj('Replacement of VMs that cannot run.', {
      enabled: bool('Replace failing VMs.', { default: true }),
      startupFailureThreshold: int('Consecutive start failures after which a VM is replaced.', { minimum: 1, maximum: 100, default: 3 }),
      minFailingToStartDuration: duration('How long a VM must have been failing to start before it is replaced.', '5m'),
      nodeLostTimeout: duration('How long a VM\'s node may be NotReady before the VM is replaced.', '5m'),
    }, { default: {} }),
  },
  {
    required: ['selector', 'image', 'template'],
    rules: [
      {
        rule: 'has(self.template.metadata) && has(self.template.metadata.labels) && self.selector.matchLabels.all(k, k in self.template.metadata.labels && self.template.metadata.labels[k] == self.selector.matchLabels[k])',
        message: 'selector.matchLabels must match template.metadata.labels',
        fieldPath: '.selector',
      },
      {
        rule: 'has(self.template.spec.template.spec) && has(self.template.spec.template.spec.volumes) && self.template.spec.template.spec.volumes.exists(v, v.name == self.image.volume)',
        message: 'image.volume must name a volume of template.spec.template.spec.volumes',
        fieldPath: '.image.volume',
      },
    ],
  },
);

/** The kinds of drift status.driftedReplicasByKind counts, one place for every reader. */
export const DRIFT_KIND_NAMES = ['placement', 'pendingLiveUpdate', 'manualEdit', 'imbalance', 'obsoleteImage', 'notMigratable'] as const;

const driftKinds = {
  placement: int('VMs on a node they no longer belong on.', { minimum: 0 }),
  pendingLiveUpdate: int('VMs whose live-updatable change awaits a migration.', { minimum: 0 }),
  manualEdit: int('VMs edited by hand.', { minimum: 0 }),
  imbalance: int('VMs to move to restore the topology spread.', { minimum: 0 }),
  obsoleteImage: int('VMs running an Obsolete image version.', { minimum: 0 }),
  notMigratable: int('Drifted VMs that cannot be live-migrated.', { minimum: 0 }),
};

export const vmFleetStatus: Schema = obj('The observed state of the fleet.', {
  observedGeneration: observedGeneration(),
  replicas: int('VMs that exist.', { minimum: 0 }),
  readyReplicas: int('VMs whose Ready condition is True.', { minimum: 0 }),
  availableReplicas: int('VMs Ready for at least minReadySeconds.', { minimum: 0 }),
  updatedReplicas: int('VMs at the update revision.', { minimum: 0 }),
  driftedReplicas: int('VMs drifted from their desired state, of any kind.', { minimum: 0 }),
  driftedReplicasByKind: obj('Drifted VMs by kind of drift.', driftKinds),
  migratingReplicas: int('VMs with a live migration in flight.', { minimum: 0 }),
  currentRevision: str('Revision of the template most VMs run.', { maxLength: 128 }),
  updateRevision: str('Revision of the current template.', { maxLength: 128 }),
  imageVersion: str('The image version the fleet\'s spec resolves to: what its rollout brings the VMs to (imageVersions says what they boot).', { maxLength: 128 }),
  imageSummary: str('What the VMs boot, for people: imageVersion, followed by "(n/m)" while only n of the m VMs boot it (a rollout under way, or held by partition).', { maxLength: 160 }),
  imageVersions: list(
    'How many VMs boot each image version (from their running VMIs), the version the spec resolves to first.',
    obj('The VMs that boot one image version.', { version: str('Name of the image version.', { maxLength: 128 }), replicas: int('VMs that boot it.', { minimum: 0 }) }, { required: ['version', 'replicas'] }),
    { maxItems: 64, mapKeys: ['version'] },
  ),
  labelSelector: str('The fleet\'s label selector as a string, for the scale subresource and HPAs.', { maxLength: 4096 }),
  conditions: conditions('Ready, Available, Progressing, Drifted, NameConflict (names held by VMs the fleet does not own), Reconciling and Stalled, in metav1.Condition form.'),
});
