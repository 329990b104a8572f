// GoldenImage: one image family and its lifecycle (README "The API").
import { bool, enumOf, int, list, obj, str, type Schema } from './dsl.ts';
import {
  checksum,
  conditions,
  configMapKeyRef,
  cronSchedule,
  digest,
  dnsLabel,
  duration,
  localObjectRef,
  observedGeneration,
  resourceName,
} from './common.ts';

export const VERSION_PHASES = ['Discovered', 'Importing', 'Ready', 'Failed', 'Deprecated', 'Obsolete', 'Deleted'] as const;
export const DEPRECATION_STATES = ['Deprecated', 'Obsolete'] as const;
export const STORAGE_TYPES = ['ContainerDisk', 'DataVolume'] as const;
export const GATE_STATES = ['Open', 'Waiting', 'Blocked'] as const;

const OCI_REPOSITORY = '^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)+$';

const polling = {
  pollInterval: duration('How often to look for a new version, as a Go duration (for example 1h). Ignored when schedule is set.', '1h'),
  schedule: cronSchedule('A cron schedule for looking for a new version, instead of pollInterval.'),
};

const publicKeysRef = (kind: 'Secret' | 'ConfigMap'): Schema =>
  obj(
    `A ${kind} in the image's namespace holding the keys.`,
    {
      name: resourceName(`Name of the ${kind} in the image's namespace.`),
      key: str(`Key in the ${kind} holding the PEM public keys; defaults to cosign.pub.`, { maxLength: 253, pattern: '^[-._a-zA-Z0-9]+$', default: 'cosign.pub' }),
    },
    { required: ['name'] },
  );

const verification = obj(
  'Signature verification. When set, a version becomes Ready only if a cosign signature over its manifest digest (key-based, stored at the tag sha256-<hex>.sig) verifies with one of the public keys; an unsigned or badly signed version is Failed (reason SignatureInvalid) and no channel offers it. Versions that were Ready before verification was set stay Ready.',
  {
    publicKeys: obj(
      'Where the PEM public keys (as `cosign generate-key-pair` writes cosign.pub; several PUBLIC KEY blocks in one value are allowed) are: exactly one of secretRef or configMapRef.',
      { secretRef: publicKeysRef('Secret'), configMapRef: publicKeysRef('ConfigMap') },
      { rules: [{ rule: 'has(self.secretRef) != has(self.configMapRef)', message: 'exactly one of publicKeys.secretRef or publicKeys.configMapRef must be set' }] },
    ),
  },
  { required: ['publicKeys'] },
);

const registrySource = obj(
  'An OCI repository holding containerDisk images; new digests behind the tracked tag become new versions.',
  {
    repository: str('The repository without scheme or tag, for example quay.io/containerdisks/fedora.', { maxLength: 255, minLength: 1, pattern: OCI_REPOSITORY }),
    tag: str('The tag to track.', { maxLength: 128, minLength: 1, pattern: '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$', default: 'latest' }),
    pullSecretRef: localObjectRef('A Secret of type kubernetes.io/dockerconfigjson used to read the repository.'),
    caConfigMapRef: configMapKeyRef('A ConfigMap with the CA bundle that signs the registry\'s certificate.'),
    verification,
    ...polling,
  },
  { required: ['repository'] },
);

const httpSource = obj(
  'A disk image served over HTTP(S); a change is detected from the checksum file, the ETag or Last-Modified.',
  {
    url: str('The image URL.', { maxLength: 2048, pattern: '^https?://[^\\s]+$' }),
    checksum: checksum('The expected checksum of the current image, sha256:… or sha512:….'),
    checksumURL: str('A SHA256SUMS-style file listing the image\'s checksum; polled to discover new versions.', { maxLength: 2048, pattern: '^https?://[^\\s]+$' }),
    secretRef: localObjectRef('A Secret with accessKeyId and secretKey used as basic-auth credentials.'),
    caConfigMapRef: configMapKeyRef('A ConfigMap with the CA bundle that signs the server\'s certificate.'),
    ...polling,
  },
  {
    required: ['url'],
    rules: [{ rule: 'has(self.checksum) != has(self.checksumURL)', message: 'exactly one of checksum or checksumURL must be set' }],
  },
);

const pvcSource = obj(
  'An existing PersistentVolumeClaim adopted as a version.',
  {
    name: resourceName('Name of the PVC.'),
    namespace: dnsLabel('Namespace of the PVC; defaults to the image\'s namespace.'),
  },
  { required: ['name'] },
);

const source = obj(
  'Where versions come from: exactly one of registry, http or pvc.',
  { registry: registrySource, http: httpSource, pvc: pvcSource },
  {
    rules: [
      {
        rule: '(has(self.registry) ? 1 : 0) + (has(self.http) ? 1 : 0) + (has(self.pvc) ? 1 : 0) == 1',
        message: 'exactly one of source.registry, source.http or source.pvc must be set',
      },
    ],
  },
);

const version = obj(
  'A pinned version. A version is immutable once recorded.',
  {
    name: dnsLabel('Name of the version, referred to by channels, deprecations and fleets.'),
    digest: digest('The image manifest digest (registry sources), sha256:….'),
    checksum: checksum('The image checksum (http sources), sha256:… or sha512:….'),
    url: str('The URL of this version\'s image (http sources); defaults to source.http.url.', { maxLength: 2048, pattern: '^https?://[^\\s]+$' }),
  },
  {
    required: ['name'],
    rules: [
      { rule: 'self == oldSelf', message: 'a version is immutable once recorded; add a new version instead' },
      { rule: '!(has(self.digest) && has(self.checksum))', message: 'a version has either a digest or a checksum, not both' },
    ],
  },
);

const channel = obj(
  'A named pointer to a version, either pinned or following another channel (promotion).',
  {
    name: dnsLabel('Name of the channel, for example stable or candidate.'),
    version: dnsLabel('Pins the channel to this entry of spec.versions. Moving it back is a rollback.'),
    follows: dnsLabel('Follows another channel, or latest (the newest Ready version).'),
    promotion: obj(
      'When a following channel takes up the version of the channel it follows.',
      {
        soakTime: duration('How long a version must have been on the followed channel first.', '0s'),
        minHealthyPercent: int('Percentage of the VMs on the followed channel\'s version that must be Ready in fleets using it.', { minimum: 0, maximum: 100, default: 0 }),
      },
    ),
    rollback: obj(
      'Automatic rollback of a following channel (on unless enabled is false): when the version it moved to makes the fleets on it unhealthy (a fleet\'s rollout halts on new VMs failing to start, or fewer than minHealthyPercent of their VMs on it are healthy when window has passed since the move), the channel returns to its previous version and the version is marked rejected in status.versions, so latest and every following channel skip it until it is listed in spec.clearedRejections. A pinned channel is rolled back by moving its version back in Git.',
      {
        enabled: bool('Whether the channel rolls back by itself.', { default: true }),
        window: duration('How long after a move the VMs on the new version may stay below minHealthyPercent healthy.', '10m'),
        minHealthyPercent: int('Percentage of the VMs on the new version in fleets on this channel that must be healthy within window; defaults to promotion.minHealthyPercent; 0 rolls back on halted rollouts only.', { minimum: 0, maximum: 100 }),
      },
    ),
  },
  {
    required: ['name'],
    rules: [
      { rule: 'has(self.version) != has(self.follows)', message: 'a channel sets exactly one of version or follows' },
      { rule: '!has(self.follows) || self.follows != self.name', message: 'a channel cannot follow itself' },
      { rule: '!has(self.promotion) || has(self.follows)', message: 'promotion applies only to a channel that follows another' },
      { rule: '!has(self.rollback) || has(self.follows)', message: 'rollback applies only to a following channel; a pinned channel is rolled back by moving its version back' },
    ],
  },
);

const deprecation = obj(
  'A deprecation state of one version.',
  {
    version: dnsLabel('The version deprecated.'),
    state: enumOf('Deprecated warns users; Obsolete rolls fleets forward to their channel\'s current version at their next disruption window.', DEPRECATION_STATES),
    effectiveFrom: str('When the state takes effect; at once when unset.', { maxLength: 64, format: 'date-time' }),
    message: str('Why, and what to move to.', { maxLength: 1024 }),
  },
  { required: ['version', 'state'] },
);

export const goldenImageSpec: Schema = obj(
  'The desired lifecycle of one image family.',
  {
    source,
    versions: list('Pinned versions. Versions discovered from the source are recorded in status.', version, { maxItems: 128, mapKeys: ['name'] }),
    channels: list('Named pointers to versions, such as candidate and stable.', channel, { maxItems: 16, mapKeys: ['name'] }),
    deprecations: list('Deprecation states per version.', deprecation, { maxItems: 128, mapKeys: ['version'] }),
    clearedRejections: list(
      'Versions a person cleared of an automatic rollback\'s rejection: their rejected mark is removed, channels may take them up again, and automatic rollback does not reject them again while they are listed.',
      dnsLabel('A version name.'),
      { maxItems: 128, set: true },
    ),
    retention: obj('How many versions to keep. A version a channel points at or a VM uses is never deleted.', {
      keepUnused: int('How many unused Ready versions to keep besides those in use.', { minimum: 0, maximum: 100, default: 3 }),
    }),
    storage: obj(
      'How versions are materialised for VMs.',
      {
        type: enumOf('ContainerDisk: VMs reference repository@digest and nothing is imported. DataVolume: CDI imports each version once into a PVC that VMs clone.', STORAGE_TYPES, { default: 'ContainerDisk' }),
        storageClassName: str('StorageClass of the imported PVCs; the cluster default when unset.', { maxLength: 253 }),
        size: str('Size of each imported PVC, a quantity such as 10Gi.', { maxLength: 32, pattern: '^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$' }),
      },
      { rules: [{ rule: "self.type != 'DataVolume' || has(self.size)", message: 'storage.size is required when storage.type is DataVolume' }] },
    ),
    sharing: obj('Which other namespaces\' fleets may use this image.', {
      namespaces: list('Namespaces allowed to use the image; "*" allows all.', str('A namespace name or "*".', { maxLength: 63, pattern: '^(\\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?)$' }), { maxItems: 64, set: true }),
    }),
  },
  {
    required: ['source'],
    rules: [
      {
        rule: '!has(self.channels) || self.channels.all(c, !has(c.version) || (has(self.versions) && self.versions.exists(v, v.name == c.version)))',
        message: 'a channel\'s version must name an entry of spec.versions',
        fieldPath: '.channels',
      },
      {
        rule: "!has(self.channels) || self.channels.all(c, !has(c.follows) || c.follows == 'latest' || self.channels.exists(o, o.name == c.follows))",
        message: 'a channel must follow latest or another channel of this image',
        fieldPath: '.channels',
      },
      {
        rule: '!has(self.deprecations) || !has(self.versions) || !has(self.channels) || self.channels.all(c, !has(c.version) || !self.deprecations.exists(d, d.version == c.version && d.state == \'Obsolete\'))',
        message: 'a channel cannot be pinned to an Obsolete version',
        fieldPath: '.channels',
      },
      {
        rule: '!has(self.source.registry) || !has(self.versions) || self.versions.all(v, has(v.digest))',
        message: 'versions of a registry image need a digest',
        fieldPath: '.versions',
      },
      {
        rule: '!has(self.source.http) || !has(self.versions) || self.versions.all(v, has(v.checksum))',
        message: 'versions of an http image need a checksum',
        fieldPath: '.versions',
      },
      {
        rule: "has(self.source.registry) || (has(self.storage) && self.storage.type == 'DataVolume')",
        message: 'http and pvc sources need storage.type DataVolume; only registry images can boot as a ContainerDisk',
        fieldPath: '.storage',
      },
    ],
  },
);

export const goldenImageStatus: Schema = obj('The observed state of the image.', {
  observedGeneration: observedGeneration(),
  latestVersion: dnsLabel('The newest Ready version.'),
  availableVersions: int('How many versions VMs can boot now (phase Ready, Deprecated or Obsolete).', { minimum: 0 }),
  versions: list(
    'Every version known, pinned or discovered.',
    obj(
      'The observed state of one version.',
      {
        name: dnsLabel('Name of the version.'),
        digest: digest('The image manifest digest.'),
        checksum: checksum('The image checksum.'),
        phase: enumOf('Lifecycle phase of the version.', VERSION_PHASES),
        url: str('Where the version\'s bytes are read from (http sources).', { maxLength: 2048 }),
        sourceUID: str('The uid of the adopted PVC (pvc sources); the version stands for that PVC.', { maxLength: 64 }),
        discoveredAt: str('When the version was first seen.', { maxLength: 64, format: 'date-time' }),
        readyAt: str('When the version became Ready.', { maxLength: 64, format: 'date-time' }),
        deletedAt: str('When retention deleted the version\'s data (phase Deleted).', { maxLength: 64, format: 'date-time' }),
        pvcName: resourceName('The PVC holding the version (DataVolume storage).'),
        progress: str('Import progress as CDI reports it, for example 45.20%.', { maxLength: 16 }),
        usedBy: int('How many VMs use the version.', { minimum: 0 }),
        message: str('Details, for example why an import failed.', { maxLength: 1024 }),
        rejected: obj(
          'Set when an automatic rollback took a channel off this version: latest and every following channel skip it until spec.clearedRejections lists it. The phase stays what it is.',
          {
            at: str('When the version was rejected.', { maxLength: 64, format: 'date-time' }),
            channel: dnsLabel('The channel that was rolled back.'),
            reason: str('RolloutHalted (new VMs failed to start) or Unhealthy (too few healthy VMs when the rollback window passed).', { maxLength: 64 }),
            message: str('Which fleets and VMs failed.', { maxLength: 1024 }),
          },
          { required: ['at', 'reason'] },
        ),
      },
      { required: ['name', 'phase'] },
    ),
    { maxItems: 512, mapKeys: ['name'] },
  ),
  channels: list(
    'Where each channel points now.',
    obj('The observed state of one channel.', {
      name: dnsLabel('Name of the channel.'),
      version: dnsLabel('The version the channel points at.'),
      since: str('When the channel moved to that version.', { maxLength: 64, format: 'date-time' }),
      previousVersion: dnsLabel('The version the channel pointed at before this one; where an automatic rollback returns it.'),
      settledAt: str('When the move was judged healthy: every VM of the fleets on the channel runs the version with enough of them healthy, or the rollback window passed without a rollback. From then on only a halted rollout rolls the channel back.', { maxLength: 64, format: 'date-time' }),
      gate: obj('Why the channel is, or is not yet, where its spec says.', {
        state: enumOf('Open: where the spec says. Waiting: for soak time, health or a version to become Ready. Blocked: needs a person.', GATE_STATES),
        message: str('For example: soaking on candidate until T, 2/3 VMs healthy, blocked because ….', { maxLength: 1024 }),
      }, { required: ['state'] }),
    }, { required: ['name'] }),
    { maxItems: 16, mapKeys: ['name'] },
  ),
  conditions: conditions('Ready, Reconciling and Stalled, in metav1.Condition form.'),
});
