//go:build tools

// Package tools pins the generator and KubeVirt's API module in go.mod.
// kubevirt.io/api brings kubevirt.io/containerized-data-importer-api at the
// version KubeVirt itself builds with: a VirtualMachine's dataVolumeTemplates
// get the DataVolume spec of that CDI version, as in KubeVirt's own CRD. The
// CDI CRDs come from the newer CDI API pinned in cdi/go.mod.
package tools

import (
	_ "kubevirt.io/api/core/v1"
	_ "sigs.k8s.io/controller-tools/cmd/controller-gen"
)
