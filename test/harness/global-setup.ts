// One real control plane and one OCI registry per test run (envtest's model): started side by
// side before the first integration suite, shared through environment variables, stopped by
// global-teardown.ts.
import { ensureAssets, type ControlPlaneAssets } from '../../controller/local/assets.ts';
import { ControlPlane } from '../../controller/local/control-plane.ts';
import { installCrds } from '../../controller/local/install-crds.ts';
import { CRD_DIRS } from './paths.ts';
import { startSharedRegistry } from './registry.ts';

async function startControlPlane(): Promise<{ plane: ControlPlane; assets: ControlPlaneAssets }> {
  const assets = await ensureAssets();
  const plane = await ControlPlane.start({ assets });
  try {
    await installCrds(plane.kubeConfig(), CRD_DIRS);
    return { plane, assets };
  } catch (err) {
    await plane.stop();
    throw err;
  }
}

export default async function globalSetup(): Promise<void> {
  // The registry holds the fixture images (test/fixtures/fleets.ts) and publishes itself in
  // process.env, which jest's workers inherit.
  const [cp, reg] = await Promise.allSettled([startControlPlane(), startSharedRegistry()]);
  if (cp.status === 'rejected' || reg.status === 'rejected') {
    // Whichever started is stopped, so a failed setup leaves nothing running.
    await Promise.all([cp.status === 'fulfilled' && cp.value.plane.stop(), reg.status === 'fulfilled' && reg.value.stop()]);
    throw cp.status === 'rejected' ? cp.reason : (reg as PromiseRejectedResult).reason;
  }
  const { plane, assets } = cp.value;
  Object.assign(globalThis, { __controlPlane: plane, __registry: reg.value });
  process.env.VIRTFLEET_TEST_KUBECONFIG = plane.kubeconfigPath;
  process.env.VIRTFLEET_TEST_KUBECTL = assets.kubectl;
  process.env.VIRTFLEET_TEST_APISERVER = assets.kubeApiServer;
  process.env.VIRTFLEET_TEST_ETCD = assets.etcd;
}
