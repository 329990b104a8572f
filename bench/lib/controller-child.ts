// Runs the controller in a process of its own, through the same startController that
// `virtfleet run` uses, so a benchmark reads that process's memory and CPU alone (the control
// plane, the simulator and the benchmark live in other processes).
//   node bench/lib/controller-child.ts <kubeconfig> '<Partial<RunFlags> as JSON>'
// spawnController runs it from the TypeScript sources or, with `javascript`, compiled by
// hack/build-js.sh (as the production image runs), with the Node.js flags a benchmark compares.
// Prints "ready" once the caches synced; answers each "stats" line on stdin with one JSON line
// (ControllerStats), and each "snapshot <path>" line with the path of the V8 heap snapshot it
// wrote there; stops on SIGTERM. Its V8 heap figures come from process.memoryUsage(), asked
// over stdin, so no inspector or --expose-gc is needed.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8';
import { RUN_DEFAULTS, type RunFlags } from '../../controller/cli/run-flags.ts';

export interface ControllerStats {
  /** Fleet reconciles so far, resyncs included. */
  reconciles: number;
  /** The controller's own requests so far, by HTTP verb. */
  requests: Record<string, number>;
  /** Errors the controller logged. */
  errors: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  /** process.memoryUsage().rss, the same figure as VmRSS, taken with the others. */
  rss: number;
  /** V8's heap spaces (new_space, old_space, code_space, large_object_space, ...): committed and used bytes. */
  heapSpaces: Record<string, { size: number; used: number }>;
}

export interface ProcessFigures {
  /** Resident set (VmRSS) and its peak (VmHWM), bytes. */
  rss: number;
  hwm: number;
  /** User plus system CPU, seconds. */
  cpuSeconds: number;
}

/** This process's figures from /proc: memory from status, CPU from stat (in clock ticks of 1/100 s). */
export function processFigures(pid: number, ticksPerSecond = 100): ProcessFigures {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  // Fields after the command name, which is in parentheses and may hold spaces.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
  const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
  return { rss: kib('VmRSS'), hwm: kib('VmHWM'), cpuSeconds };
}

export interface ControllerChild {
  child: ChildProcess;
  stats(): Promise<ControllerStats>;
  figures(): ProcessFigures;
  /** Writes a V8 heap snapshot of the controller to `path` (on its side); resolves with the path. */
  heapSnapshot(path: string): Promise<string>;
  stop(): Promise<void>;
}

export interface SpawnOptions {
  /** Run the controller compiled to JavaScript (hack/build-js.sh, built once per process) instead of its sources. */
  javascript?: boolean;
  /** Node.js flags, for example --max-semi-space-size=2. */
  nodeFlags?: readonly string[];
  /** Environment variables added to this process's, for the child (MALLOC_ARENA_MAX, say). */
  env?: Readonly<Record<string, string>>;
  readyTimeoutMs?: number;
  /**
   * Run the controller of another checkout (its root directory, with node_modules), for example a
   * worktree of the commit before a change, to compare the two side by side in one run.
   */
  tree?: string;
}

const ownRoot = join(import.meta.dirname, '..', '..');
const built = new Set<string>();

/** The compiled child (dist/bench/lib/controller-child.js) of a checkout, built on first use. */
function compiledChild(root: string): string {
  if (!built.has(root)) {
    execFileSync(join(root, 'hack', 'build-js.sh'), { stdio: 'inherit', cwd: root });
    built.add(root);
  }
  return join(root, 'dist', 'bench', 'lib', 'controller-child.js');
}

/** Starts the controller as a child process and resolves once its caches synced. */
export async function spawnController(kubeconfigPath: string, flags: Partial<RunFlags>, options: SpawnOptions = {}): Promise<ControllerChild> {
  const root = options.tree ?? ownRoot;
  const script = options.javascript ? compiledChild(root) : join(root, 'bench', 'lib', 'controller-child.ts');
  const child = spawn(process.execPath, [...(options.nodeFlags ?? []), script, kubeconfigPath, JSON.stringify(flags)], { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, ...options.env } });
  const lines = createInterface({ input: child.stdout! });
  const waiting: ((line: string) => void)[] = [];
  lines.on('line', (line) => waiting.shift()?.(line));
  const next = (what: string, timeoutMs: number) =>
    new Promise<string>((resolve, reject) => {
      const exited = (code: number | null) => {
        clearTimeout(timer);
        reject(new Error(`controller exited with ${code} before ${what}`));
      };
      const timer = setTimeout(() => {
        child.off('exit', exited);
        reject(new Error(`controller: no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      waiting.push((line) => {
        clearTimeout(timer);
        child.off('exit', exited);
        resolve(line);
      });
      child.once('exit', exited);
    });
  const ready = await next('ready', options.readyTimeoutMs ?? 300_000);
  if (ready !== 'ready') throw new Error(`controller: expected ready, got ${ready}`);
  return {
    child,
    stats: async () => {
      const answer = next('stats', 10_000);
      child.stdin!.write('stats\n');
      return JSON.parse(await answer) as ControllerStats;
    },
    figures: () => processFigures(child.pid!),
    heapSnapshot: async (path: string) => {
      const answer = next('heap snapshot', 300_000);
      child.stdin!.write(`snapshot ${path}\n`);
      return await answer;
    },
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

if (process.argv[1] === import.meta.filename) {
  const { startController } = await import('../../controller/cli/run.ts');
  const { loadClientConfig } = await import('../../controller/cli/client-config.ts');
  const [kubeconfigPath, flagsJson] = process.argv.slice(2);
  // Loaded as `virtfleet run --kubeconfig` loads it, so the process holds what the controller's does.
  const { kc } = loadClientConfig(kubeconfigPath);
  let errors = 0;
  const log = { info: () => undefined, error: (msg: string, fields?: Record<string, unknown>) => {
    errors++;
    console.error(`controller: ${msg} ${JSON.stringify(fields ?? {})}`);
  } };
  const flags: RunFlags = { ...RUN_DEFAULTS, ...(JSON.parse(flagsJson ?? '{}') as Partial<RunFlags>) };
  const { manager, requests } = await startController(kc, flags, undefined, { log });
  console.log('ready');
  createInterface({ input: process.stdin }).on('line', (line) => {
    const [command, arg] = line.trim().split(' ');
    if (command === 'snapshot' && arg) return void console.log(writeHeapSnapshot(arg));
    if (command !== 'stats') return;
    const m = process.memoryUsage();
    const heapSpaces = Object.fromEntries(getHeapSpaceStatistics().filter((s) => s.space_size > 0).map((s) => [s.space_name, { size: s.space_size, used: s.space_used_size }]));
    const stats: ControllerStats = { reconciles: manager.reconciles, requests, errors, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers, rss: m.rss, heapSpaces };
    console.log(JSON.stringify(stats));
  });
  process.once('SIGTERM', () => {
    void manager.stop().then(() => process.exit(0), () => process.exit(1));
  });
}
