// The examples as a user would try them: the fedora GoldenImage and the web fleet, applied with
// kubectl, run; moving image.version rolls the canaries (partition) and then the rest.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { parseAllDocuments } from 'yaml';
import { REVISION_LABEL } from '../controller/core/fleet/names.ts';
import { RESOURCES } from '../controller/kube/resources.ts';
import { DIGESTS, fixtureRepository, REGISTRY_CA, REGISTRY_SECRET } from './fixtures/fleets.ts';
import { kubectl } from './harness/cluster.ts';
import { fleetCluster, isCondition, type FleetCluster } from './harness/fleet.ts';
import { EXAMPLES_DIR } from './harness/paths.ts';

let c: FleetCluster;
beforeAll(async () => (c = await fleetCluster('examples', { nodes: { count: 3 } }, { goldenImage: false })));
afterAll(async () => c?.stop());

/** An example file moved into the test's namespace. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- free-form manifest edits
type Doc = Record<string, any>;

function example(file: string, edit: (doc: Doc) => void = () => undefined): string {
  return parseAllDocuments(readFileSync(join(EXAMPLES_DIR, file), 'utf8'))
    .map((d) => {
      const doc = d.toJS() as Doc;
      doc.metadata.namespace = c.namespace;
      edit(doc);
      return JSON.stringify(doc);
    })
    .join('\n');
}

it('runs the web fleet of the examples and rolls it to the next image version, canaries first', async () => {
  // The example as a user adapts it: their registry (the run's loopback one, with its pull Secret
  // and CA), and the digests of images they pushed there in place of the placeholders.
  const image = example('goldenimage-fedora.yaml', (doc) => {
    doc.spec.source.registry = { ...doc.spec.source.registry, repository: fixtureRepository(), pullSecretRef: { name: REGISTRY_SECRET }, caConfigMapRef: REGISTRY_CA };
    doc.spec.versions[0].digest = DIGESTS.v1;
    doc.spec.versions[1].digest = DIGESTS.v2;
  });
  expect((await kubectl(['apply', '-f', '-'], { input: image })).code).toBe(0);
  // minReadySeconds 10 → 2 to keep the test short; everything else as in the example.
  const web = (version?: string, partition?: number) => example('vmfleet-web-rollout.yaml', (doc) => {
    doc.spec.minReadySeconds = 2;
    if (version) doc.spec.image.version = version;
    if (partition !== undefined) doc.spec.updateStrategy.rollingUpdate.partition = partition;
  });
  expect((await kubectl(['apply', '-f', '-'], { input: web() })).code).toBe(0);
  await c.waitForFleet('web', 'six web VMs available', (s) => s.availableReplicas === 6 && s.imageVersion === 'f42-20261001');
  const first = (await c.fleetStatus('web'))!.updateRevision;

  expect((await kubectl(['apply', '-f', '-'], { input: web('f42-20261101') })).code).toBe(0);
  await c.waitForFleet('web', 'canaries web-4 and web-5 updated', (s) => s.updatedReplicas === 2 && s.availableReplicas === 6 && s.updateRevision !== first);
  const revisions = new Map((await c.fleetVMs('web')).map((vm) => [vm.metadata!.name!, vm.metadata!.labels![REVISION_LABEL]]));
  expect(['web-0', 'web-1', 'web-2', 'web-3'].map((n) => revisions.get(n))).toEqual([first, first, first, first]);

  expect((await kubectl(['apply', '-f', '-'], { input: web('f42-20261101', 0) })).code).toBe(0);
  await c.waitForFleet('web', 'all six on the new version', (s) => s.updatedReplicas === 6 && s.availableReplicas === 6 && s.currentRevision === s.updateRevision && isCondition(s, 'Progressing', 'True', 'NewRevisionAvailable'));
  const vms = await c.fleetVMs('web');
  expect(vms.every((vm) => vm.spec.template.spec?.volumes?.[0]?.containerDisk?.image === `${fixtureRepository()}@${DIGESTS.v2}`)).toBe(true);
  const get = await kubectl(['get', 'vmfleet', 'web', '-n', c.namespace]);
  expect(get.stdout).toMatch(/web\s+True\s+6\s+6\s+6\s+0\s+0\s+f42-20261101/);
  await c.client.delete(RESOURCES.vmFleet, { namespace: c.namespace, name: 'web' });
});
