package main

// controller-gen reads only kubebuilder markers. CDI's types carry the
// resource markers, so its output already is what cdi-operator installs;
// KubeVirt's types carry none (virt-operator sets names, subresources and
// columns in Go: pkg/virt-operator/resource/generate/components/crds.go, and
// takes only the schema from controller-gen). The table below restates what
// both operators install, and postprocess applies it to every fixture.
//
// Schemas are kept as controller-gen wrote them: with KubeVirt's own markers
// (+kubebuilder:pruning:PreserveUnknownFields and +nullable on template
// metadata, Clock) they are structural and pass the apiextensions validation
// that `validate` runs. Quantities and IntOrString come out as controller-gen
// always writes them (anyOf integer/string + x-kubernetes-int-or-string, with
// the quantity pattern), which the API server accepts.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

type fixture struct {
	file       string // controller-gen's file name, kept for the fixture
	version    string // the one version, served and storage
	shortNames []string
	categories []string
	status     bool // status subresource
	columns    []apiextv1.CustomResourceColumnDefinition
}

const (
	ageColumnPath   = ".metadata.creationTimestamp"
	readyColumnPath = ".status.conditions[?(@.type=='Ready')].status"
)

var fixtures = []fixture{
	{
		file: "kubevirt.io_virtualmachines.yaml", version: "v1",
		shortNames: []string{"vm", "vms"}, categories: []string{"all"}, status: true,
		columns: []apiextv1.CustomResourceColumnDefinition{
			{Name: "Age", Type: "date", JSONPath: ageColumnPath},
			{Name: "Status", Type: "string", JSONPath: ".status.printableStatus", Description: "Human Readable Status"},
			{Name: "Ready", Type: "string", JSONPath: readyColumnPath},
		},
	},
	{
		// KubeVirt's VMI CRD has no status subresource: virt-controller and
		// virt-handler update whole VMIs.
		file: "kubevirt.io_virtualmachineinstances.yaml", version: "v1",
		shortNames: []string{"vmi", "vmis"}, categories: []string{"all"}, status: false,
		columns: []apiextv1.CustomResourceColumnDefinition{
			{Name: "Age", Type: "date", JSONPath: ageColumnPath},
			{Name: "Phase", Type: "string", JSONPath: ".status.phase"},
			{Name: "IP", Type: "string", JSONPath: ".status.interfaces[0].ipAddress"},
			{Name: "NodeName", Type: "string", JSONPath: ".status.nodeName"},
			{Name: "Ready", Type: "string", JSONPath: readyColumnPath},
			{Name: "Live-Migratable", Type: "string", JSONPath: ".status.conditions[?(@.type=='LiveMigratable')].status", Priority: 1},
			{Name: "Paused", Type: "string", JSONPath: ".status.conditions[?(@.type=='Paused')].status", Priority: 1},
		},
	},
	{
		file: "kubevirt.io_virtualmachineinstancemigrations.yaml", version: "v1",
		shortNames: []string{"vmim", "vmims"}, categories: []string{"all"}, status: true,
		columns: []apiextv1.CustomResourceColumnDefinition{
			{Name: "Phase", Type: "string", JSONPath: ".status.phase", Description: "The current phase of VM instance migration"},
			{Name: "VMI", Type: "string", JSONPath: ".spec.vmiName", Description: "The name of the VMI to perform the migration on"},
		},
	},
	{
		// Same as CDI's markers (+kubebuilder:resource, :subresource:status,
		// :printcolumn on DataVolume).
		file: "cdi.kubevirt.io_datavolumes.yaml", version: "v1beta1",
		shortNames: []string{"dv", "dvs"}, categories: []string{"all"}, status: true,
		columns: []apiextv1.CustomResourceColumnDefinition{
			{Name: "Phase", Type: "string", JSONPath: ".status.phase", Description: "The phase the data volume is in"},
			{Name: "Progress", Type: "string", JSONPath: ".status.progress", Description: "Transfer progress in percentage if known, N/A otherwise"},
			{Name: "Restarts", Type: "integer", JSONPath: ".status.restartCount", Description: "The number of times the transfer has been restarted."},
			{Name: "Age", Type: "date", JSONPath: ageColumnPath},
		},
	},
	{
		// CDI's DataSource has no status subresource and no columns (its type
		// has no :subresource:status marker; CDI's DataSource controller
		// writes status with a plain update).
		file: "cdi.kubevirt.io_datasources.yaml", version: "v1beta1",
		shortNames: []string{"das"}, categories: []string{"all"}, status: false,
	},
}

// postprocess writes one fixture per table entry from controller-gen's
// output in dir in; headers maps a CRD group to the comment put on top.
func postprocess(in, out string, headers map[string]string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for _, f := range fixtures {
		data, err := os.ReadFile(filepath.Join(in, f.file))
		if err != nil {
			return err
		}
		crd := &apiextv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(data, crd); err != nil {
			return fmt.Errorf("%s: %w", f.file, err)
		}
		if err := apply(crd, f); err != nil {
			return fmt.Errorf("%s: %w", f.file, err)
		}
		body, err := marshal(crd)
		if err != nil {
			return fmt.Errorf("%s: %w", f.file, err)
		}
		header, ok := headers[crd.Spec.Group]
		if !ok {
			return fmt.Errorf("%s: no header for group %s", f.file, crd.Spec.Group)
		}
		var buf bytes.Buffer
		for _, line := range strings.Split(strings.TrimSpace(header), "\n") {
			buf.WriteString(strings.TrimRight("# "+line, " ") + "\n")
		}
		buf.Write(body)
		if err := os.WriteFile(filepath.Join(out, f.file), buf.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func apply(crd *apiextv1.CustomResourceDefinition, f fixture) error {
	if crd.Spec.Scope != apiextv1.NamespaceScoped {
		return fmt.Errorf("scope is %q, want Namespaced", crd.Spec.Scope)
	}
	// Keep only the version KubeVirt/CDI store (virt-operator also serves
	// the deprecated kubevirt.io/v1alpha3 with the same schema; VirtFleet
	// uses v1 only). controller-gen emits one version per package anyway.
	i := slices.IndexFunc(crd.Spec.Versions, func(v apiextv1.CustomResourceDefinitionVersion) bool { return v.Name == f.version })
	if i < 0 || crd.Spec.Versions[i].Schema == nil {
		return fmt.Errorf("no version %s with a schema", f.version)
	}
	v := crd.Spec.Versions[i]
	v.Served, v.Storage = true, true
	v.AdditionalPrinterColumns = f.columns
	v.Subresources = nil
	if f.status {
		v.Subresources = &apiextv1.CustomResourceSubresources{Status: &apiextv1.CustomResourceSubresourceStatus{}}
	}
	crd.Spec.Versions = []apiextv1.CustomResourceDefinitionVersion{v}

	crd.Spec.Names.ShortNames = f.shortNames
	crd.Spec.Names.Categories = f.categories
	return nil
}

// marshal writes the CRD as YAML without the empty status and
// creationTimestamp a typed CustomResourceDefinition carries.
func marshal(crd *apiextv1.CustomResourceDefinition) ([]byte, error) {
	js, err := json.Marshal(crd)
	if err != nil {
		return nil, err
	}
	obj := map[string]interface{}{}
	if err := json.Unmarshal(js, &obj); err != nil {
		return nil, err
	}
	delete(obj, "status")
	if md, ok := obj["metadata"].(map[string]interface{}); ok {
		delete(md, "creationTimestamp")
	}
	return yaml.Marshal(obj)
}
