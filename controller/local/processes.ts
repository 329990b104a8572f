// Child processes that must never outlive their parent: each runs in its own process group, is
// stopped with SIGTERM then SIGKILL, and a detached watchdog kills the groups if the parent dies
// without cleaning up (even by SIGKILL).
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';

export interface ManagedProcess {
  name: string;
  child: ChildProcess;
  exited: Promise<number | null>;
}

const live = new Set<ManagedProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Synchronous last resort when the parent exits without calling stop().
  process.on('exit', () => {
    for (const p of live) killGroup(p, 'SIGKILL');
  });
}

function killGroup(p: ManagedProcess, signal: NodeJS.Signals): void {
  if (p.child.pid === undefined) return;
  try {
    process.kill(-p.child.pid, signal);
  } catch {
    // already gone
  }
}

export function startProcess(name: string, command: string, args: string[], logFile: string): ManagedProcess {
  installExitHook();
  const log = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(command, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const managed: ManagedProcess = { name, child, exited };
  live.add(managed);
  void exited.then(() => live.delete(managed));
  return managed;
}

/** Stops a process group: SIGTERM, then SIGKILL after the grace period. */
export async function stopProcess(p: ManagedProcess, graceMs = 10_000): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) {
    live.delete(p);
    return;
  }
  killGroup(p, 'SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), graceMs)));
  if ((await Promise.race([p.exited, timedOut])) === 'timeout') {
    killGroup(p, 'SIGKILL');
    await p.exited;
  }
  clearTimeout(timer);
}

/**
 * Starts a detached shell that waits for this process to die and then kills the given process
 * groups and removes the directory. Returns a function that dismisses the watchdog.
 */
export function startWatchdog(groups: number[], dir: string): () => void {
  const script = `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill -KILL ${groups.map((g) => `-${g}`).join(' ')} 2>/dev/null; rm -rf '${dir.replaceAll("'", "'\\''")}'`;
  const watchdog = spawn('sh', ['-c', script], { detached: true, stdio: 'ignore' });
  watchdog.unref();
  return () => {
    try {
      if (watchdog.pid !== undefined) process.kill(watchdog.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
}
