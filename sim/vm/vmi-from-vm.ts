// The VirtualMachineInstance a VirtualMachine starts (KubeVirt: pkg/virt-controller/watch/vm/vm.go
// setupVMIFromVM): the template's metadata and spec, owned by the VM, named after it, and
// annotated with the VM generation it was started from.
import type { V1VirtualMachine, V1VirtualMachineInstance } from '@kubevirt-ui-ext/kubevirt-api/kubevirt';

/** KubeVirt records the VM generation a VMI runs in this VMI annotation. */
export const VM_GENERATION_ANNOTATION = 'kubevirt.io/vm-generation';
export const VM_NAME_LABEL = 'vm.kubevirt.io/name';

export function vmiFromVM(vm: V1VirtualMachine): V1VirtualMachineInstance {
  const template = vm.spec.template;
  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachineInstance',
    metadata: {
      name: vm.metadata!.name,
      namespace: vm.metadata!.namespace,
      labels: { ...(template?.metadata?.labels ?? {}), [VM_NAME_LABEL]: vm.metadata!.name! },
      annotations: { ...(template?.metadata?.annotations ?? {}), [VM_GENERATION_ANNOTATION]: String(vm.metadata!.generation ?? 1) },
      ownerReferences: [
        {
          apiVersion: 'kubevirt.io/v1',
          kind: 'VirtualMachine',
          name: vm.metadata!.name!,
          uid: vm.metadata!.uid!,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: withHotplugMaxima(structuredClone(template!.spec!)),
  };
}

/** KubeVirt's LiveUpdate defaults, stamped when a VMI starts: maxSockets and maxGuest are 4× the boot values. */
function withHotplugMaxima(spec: V1VirtualMachineInstance['spec']): V1VirtualMachineInstance['spec'] {
  const cpu = spec.domain.cpu;
  if (cpu && cpu.maxSockets === undefined) cpu.maxSockets = (cpu.sockets ?? 1) * 4;
  const memory = spec.domain.memory;
  if (memory?.guest && memory.maxGuest === undefined) {
    const match = /^(\d+)(\D*)$/.exec(String(memory.guest));
    if (match) memory.maxGuest = `${Number(match[1]) * 4}${match[2]}`;
  }
  return spec;
}

/** The run strategy in force, including the deprecated `running` field. */
export function runStrategyOf(vm: V1VirtualMachine): string {
  if (vm.spec.runStrategy) return vm.spec.runStrategy;
  return vm.spec.running ? 'Always' : 'Halted';
}
