// The virtfleet command line as one commander program: main.ts parses it, and shell completion
// (completion.ts) reads its commands, options and choices from it, so they are written once.
// Commands load their modules when run, so that a completion or `validate` stays light.
import { Argument, Command, Option } from 'commander';
import type { SimFlags } from './local.ts';
import { RUN_DEFAULTS, type RunFlags } from './run-flags.ts';
import type { PlanFlags } from './plan.ts';
import type { StatusFlags } from './status.ts';
import { COMPLETION_SHELLS, type CompletionShell } from './completion-scripts.ts';
import { PLAN_OUTPUTS, STATUS_OUTPUTS } from './outputs.ts';

/** The exit code of an error a user made (a bad flag, an unknown command). */
export const EXIT_USAGE = 2;

export function buildProgram(): Command {
  const program = new Command()
    .name('virtfleet')
    .description('Fleets of KubeVirt VMs and the lifecycle of their golden images.')
    // A flag or argument a user got wrong is exit code 2, as every other error a user makes.
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : EXIT_USAGE));

  program
    .command('validate')
    .description('Validate GoldenImage and VMFleet manifests offline, including the embedded VirtualMachine template')
    .requiredOption('-f, --filename <path...>', 'files or directories of YAML/JSON manifests (multi-document)')
    .action(async (opts: { filename: string[] }) => {
      const report = (await import('./validate.ts')).validatePaths(opts.filename);
      for (const line of report.lines) (report.exitCode === 2 ? console.error : console.log)(line);
      process.exitCode = report.exitCode;
    });

  /** kubectl's cluster flags, for the commands that read a cluster. */
  const clusterOptions = (cmd: Command): Command =>
    cmd
      .option('--kubeconfig <path>', 'kubeconfig to use instead of KUBECONFIG, the in-cluster config or ~/.kube/config')
      .option('--context <name>', 'the kubeconfig context to use')
      .option('-n, --namespace <ns>', 'namespace (default: the context\'s, else default)');

  clusterOptions(program.command('plan'))
    .description('Show what applying VMFleet and GoldenImage manifests would do to each VM of the cluster (read only): action, reason, wave, makespan')
    .requiredOption('-f, --filename <path...>', 'files or directories of manifests, or - for stdin')
    .addOption(new Option('-o, --output <format>', 'output format').choices(PLAN_OUTPUTS).default('table'))
    .option('--exit-code', 'exit 1 when anything would change, 0 when nothing would (as kubectl diff)')
    .option('--migration-budget <n>', 'the controller\'s --migration-budget (live migrations in flight in the cluster at once)', RUN_DEFAULTS.migrationBudget)
    .action(async (opts: PlanFlags) => (await import('./plan.ts')).plan(opts));

  clusterOptions(program.command('status').argument('[target]', 'a fleet, vmfleet/<name> or goldenimage/<name>; all fleets when omitted'))
    .description('Show fleets (desired, ready, updated, drifted, migrating, image, conditions), a fleet\'s VMs, or a GoldenImage (read only)')
    .option('-A, --all-namespaces', 'fleets of every namespace')
    .addOption(new Option('-o, --output <format>', 'output format').choices(STATUS_OUTPUTS).default('table'))
    .option('-w, --watch', 'redraw until interrupted (a progress bar on a terminal, changed views otherwise)')
    .option('--interval <seconds>', 'how often --watch looks', '1')
    .action(async (target: string | undefined, opts: StatusFlags) => (await import('./status.ts')).status(target, opts));

  const simOptions = (cmd: Command): Command =>
    cmd
      .option('--nodes <n>', 'simulated nodes to create', '3')
      .option('--speed <x>', 'simulated seconds per real second', '1')
      .option('--seed <n>', 'seed of injected failures', '1');

  program
    .command('run')
    .description('Run the controller against a cluster: the one of --kubeconfig, else KUBECONFIG, else the in-cluster config (in a pod), else ~/.kube/config; a missing or unusable one exits with code 2 (use up for a local cluster)')
    .option('--kubeconfig <path>', 'kubeconfig to use instead of KUBECONFIG, the in-cluster config or ~/.kube/config')
    .option('-n, --namespace <ns>', 'reconcile fleets of this namespace only (default: all)')
    .option('--qps <n>', 'client-side requests per second to the API server', RUN_DEFAULTS.qps)
    .option('--burst <n>', 'client-side request burst', RUN_DEFAULTS.burst)
    .option('--workers <n>', 'fleets reconciled concurrently', RUN_DEFAULTS.workers)
    .option('--resync <duration>', 'reconcile every fleet this often without events', RUN_DEFAULTS.resync)
    .option('--leader-elect', 'campaign for a Lease and reconcile only while leading', false)
    .option('--leader-election-namespace <ns>', 'namespace of the Lease (default: $POD_NAMESPACE, else --namespace, else virtfleet-system)')
    .option('--lease-duration <duration>', 'leader election lease duration', RUN_DEFAULTS.leaseDuration)
    .option('--renew-deadline <duration>', 'leader election renew deadline', RUN_DEFAULTS.renewDeadline)
    .option('--retry-period <duration>', 'leader election retry period', RUN_DEFAULTS.retryPeriod)
    .option('--migration-budget <n>', 'most live migrations in flight in the cluster at once, anyone\'s counted (KubeVirt\'s parallelMigrationsPerCluster)', RUN_DEFAULTS.migrationBudget)
    .option('--migration-budget-scope <scope>', 'whose migrations count against the budget: cluster (every namespace, whatever -n says) or namespace (only those of -n)', RUN_DEFAULTS.migrationBudgetScope)
    .option('--migration-backoff <duration>', 'delay before retrying a VM\'s failed migration, doubled after each further failure', RUN_DEFAULTS.migrationBackoff)
    .option('--migration-backoff-max <duration>', 'longest delay between retries of a VM\'s migration', RUN_DEFAULTS.migrationBackoffMax)
    .option('--retention-guard-namespace <ns>', 'namespace of the ConfigMap the retention guard\'s ValidatingAdmissionPolicy reads (default: $POD_NAMESPACE, else virtfleet-system)')
    .option('--metrics-bind-address <address>', 'where to serve Prometheus /metrics, as :8080 or 127.0.0.1:8080; 0 turns it off', RUN_DEFAULTS.metricsBindAddress)
    .option('--health-probe-bind-address <address>', 'where to serve /healthz and /readyz, as :8081 or 127.0.0.1:8081; 0 turns them off', RUN_DEFAULTS.healthProbeBindAddress)
    .option('--log-level <level>', 'info, debug (also every reconcile) or error (errors only)', RUN_DEFAULTS.logLevel)
    .action(async (opts: RunFlags) => (await import('./run.ts')).run(opts));

  simOptions(program.command('up'))
    .description('Start a local cluster: kube-apiserver and etcd on 127.0.0.1, all CRDs, the KubeVirt/CDI simulator and the controller')
    .option('--no-controller', 'do not run the controller (to run it yourself with virtfleet run)')
    .action(async (opts: SimFlags) => (await import('./local.ts')).up(opts));

  program
    .command('down')
    .description('Stop the local cluster started by virtfleet up')
    .action(async () => (await import('./local.ts')).down());

  simOptions(program.command('sim'))
    .description('Run the KubeVirt/CDI simulator against the cluster of the current kubeconfig')
    .option('--kubeconfig <path>', 'kubeconfig to use instead of KUBECONFIG or ~/.kube/config')
    .option('-n, --namespace <ns...>', 'namespaces to simulate (default: all)')
    .action(async (opts: SimFlags & { kubeconfig?: string }) => (await import('./local.ts')).simulate(opts));

  program
    .command('completion')
    .description('Print a shell completion script for virtfleet (source <(virtfleet completion bash)); kubectl virtfleet completes through kubectl_complete-virtfleet')
    .addArgument(new Argument('<shell>', 'the shell').choices(COMPLETION_SHELLS))
    .action(async (shell: CompletionShell) => {
      process.stdout.write((await import('./completion-scripts.ts')).completionScript(shell, program.name()));
    });

  return program;
}
