//go:build tools

// Package tools pins the CDI API module whose types controller-gen reads for
// the CDI CRDs (DataVolume, DataSource). k8s.io/api is pinned to the version
// KubeVirt's API module uses in ../go.mod, so core types (PVC spec, resource
// requirements, ...) are the same in every fixture.
package tools

import (
	_ "k8s.io/api/core/v1"
	_ "kubevirt.io/containerized-data-importer-api/pkg/apis/core/v1beta1"
)
