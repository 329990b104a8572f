// The controller as users run it: `virtfleet run` in its own process, so tests can SIGKILL it
// or run two of them side by side. Its JSON log lines (stdout and stderr) are kept for
// assertions, and how and when it exited.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './paths.ts';

export interface ControllerProcess {
  child: ChildProcess;
  lines: Record<string, unknown>[];
  /** Settles when the process has exited: its code (null when a signal ended it) and when. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  /** Whether it logged that it became the leader. */
  led(): boolean;
  kill(signal: NodeJS.Signals): Promise<void>;
  /** SIGTERM, then the request counts it logged on its way out. */
  stop(): Promise<Record<string, number>>;
}

/** A fleet controller of the namespace against the test control plane, campaigning on short leases. */
export function startControllerProcess(namespace: string, extraArgs: string[] = []): ControllerProcess {
  const kubeconfig = process.env.VIRTFLEET_TEST_KUBECONFIG!;
  return startRunProcess(['--kubeconfig', kubeconfig, '-n', namespace, '--migration-budget-scope', 'namespace', '--qps', '100', '--burst', '200',
    '--leader-elect', '--lease-duration', '2s', '--renew-deadline', '1500ms', '--retry-period', '200ms', ...extraArgs]);
}

/** `virtfleet run` with exactly these arguments, and the environment given (default: the test's own). */
export function startRunProcess(args: string[], env: NodeJS.ProcessEnv = process.env): ControllerProcess {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'controller', 'cli', 'main.ts'), 'run', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  const lines: Record<string, unknown>[] = [];
  const collect = (stream: NodeJS.ReadableStream, echo: boolean) => {
    let buffer = '';
    stream.on('data', (d: Buffer) => {
      if (echo) process.stderr.write(`controller ${child.pid}: ${d.toString()}`);
      buffer += d.toString();
      const parts = buffer.split('\n');
      buffer = parts.pop()!;
      for (const l of parts) {
        try {
          lines.push(JSON.parse(l) as Record<string, unknown>);
        } catch {
          lines.push({ msg: l });
        }
      }
    });
  };
  collect(child.stdout!, false);
  collect(child.stderr!, true);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })));
  return {
    child,
    lines,
    exited,
    led: () => lines.some((l) => l.msg === 'became leader'),
    kill: async (signal) => {
      child.kill(signal);
      await exited;
    },
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
      return (lines.find((l) => l.msg === 'stopped')?.requests ?? {}) as Record<string, number>;
    },
  };
}
