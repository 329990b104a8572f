// One real control plane per test run (envtest's model): started before the first integration
// suite, shared through environment variables, stopped by global-teardown.ts.
import { ensureAssets } from '../../controller/local/assets.ts';
import { ControlPlane } from '../../controller/local/control-plane.ts';
import { installCrds } from '../../controller/local/install-crds.ts';
import { CRD_DIRS } from './paths.ts';

export default async function globalSetup(): Promise<void> {
  const assets = await ensureAssets();
  const plane = await ControlPlane.start({ assets });
  (globalThis as { __controlPlane?: ControlPlane }).__controlPlane = plane;
  try {
    await installCrds(plane.kubeConfig(), CRD_DIRS);
  } catch (err) {
    await plane.stop();
    throw err;
  }
  process.env.VIRTFLEET_TEST_KUBECONFIG = plane.kubeconfigPath;
  process.env.VIRTFLEET_TEST_KUBECTL = assets.kubectl;
  process.env.VIRTFLEET_TEST_APISERVER = assets.kubeApiServer;
  process.env.VIRTFLEET_TEST_ETCD = assets.etcd;
}
