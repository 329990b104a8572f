#!/usr/bin/env node
// The virtfleet command line. Commands load their modules when run, so `validate` stays light.
import { Command } from 'commander';
import type { SimFlags } from './local.ts';
import { validatePaths } from './validate.ts';

const program = new Command()
  .name('virtfleet')
  .description('Fleets of KubeVirt VMs and the lifecycle of their golden images.');

program
  .command('validate')
  .description('Validate GoldenImage and VMFleet manifests offline, including the embedded VirtualMachine template')
  .requiredOption('-f, --filename <path...>', 'files or directories of YAML/JSON manifests (multi-document)')
  .action((opts: { filename: string[] }) => {
    const report = validatePaths(opts.filename);
    for (const line of report.lines) (report.exitCode === 2 ? console.error : console.log)(line);
    process.exitCode = report.exitCode;
  });

const simOptions = (cmd: Command): Command =>
  cmd
    .option('--nodes <n>', 'simulated nodes to create', '3')
    .option('--speed <x>', 'simulated seconds per real second', '1')
    .option('--seed <n>', 'seed of injected failures', '1');

simOptions(program.command('up'))
  .description('Start a local cluster: kube-apiserver and etcd on 127.0.0.1, all CRDs, and the KubeVirt/CDI simulator')
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

await program.parseAsync();
