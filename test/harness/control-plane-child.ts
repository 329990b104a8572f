// Runs one control plane in its own process, for the test that proves nothing outlives it:
// prints {pids, dir} as one JSON line once ready, and stops cleanly when stdin says "stop".
import { createInterface } from 'node:readline';
import { ensureAssets } from '../../controller/local/assets.ts';
import { ControlPlane } from '../../controller/local/control-plane.ts';

const plane = await ControlPlane.start({ assets: await ensureAssets() });
console.log(JSON.stringify({ pids: plane.pids, dir: plane.dir }));
const input = createInterface({ input: process.stdin });
for await (const line of input) {
  if (line.trim() === 'stop') break;
}
input.close();
process.stdin.destroy(); // stdin would keep this process alive
await plane.stop();
console.log('stopped');
