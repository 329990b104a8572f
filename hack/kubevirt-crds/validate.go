package main

// Offline checks with the apiextensions-apiserver code a kube-apiserver runs
// (at the k8s.io/apiextensions-apiserver version in go.mod):
//   - a CRD must pass the same validation as a create request: structural
//     schema, valid list/map markers, CEL rules compile within cost limits;
//   - a sample object must pass what a create of it runs: pruning (reported
//     as an error here, since a sample field the schema drops is a bug),
//     structural defaulting, OpenAPI validation and x-kubernetes-validations.

import (
	"context"
	"fmt"
	"os"
	"strings"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	crdvalidation "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	objvalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"
)

// loadedCRD is a CRD after the defaulting and conversion the API server applies.
type loadedCRD struct {
	file     string
	internal *apiextensions.CustomResourceDefinition
}

func loadCRD(file string) (*loadedCRD, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	crd := &apiextv1.CustomResourceDefinition{}
	if err := yaml.UnmarshalStrict(data, crd); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	apiextv1.SetObjectDefaults_CustomResourceDefinition(crd)
	internal := &apiextensions.CustomResourceDefinition{}
	if err := apiextv1.Convert_v1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(crd, internal, nil); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	// The create strategy records the storage version before validating.
	for _, v := range internal.Spec.Versions {
		if v.Storage {
			internal.Status.StoredVersions = []string{v.Name}
		}
	}
	return &loadedCRD{file: file, internal: internal}, nil
}

// validate checks CRD files, then sample objects against them; it returns the
// number of problems found.
func validate(crdFiles, sampleFiles []string) (int, error) {
	ctx := context.Background()
	problems := 0
	var crds []*loadedCRD
	for _, f := range crdFiles {
		c, err := loadCRD(f)
		if err != nil {
			return 0, err
		}
		errs := crdvalidation.ValidateCustomResourceDefinition(ctx, c.internal)
		for _, e := range errs {
			fmt.Fprintf(os.Stderr, "%s: %v\n", f, e)
		}
		problems += len(errs)
		if len(errs) == 0 {
			fmt.Printf("ok   %s (%s)\n", f, c.internal.Name)
		}
		crds = append(crds, c)
	}
	for _, f := range sampleFiles {
		n, err := validateSample(ctx, f, crds)
		if err != nil {
			return 0, err
		}
		problems += n
	}
	return problems, nil
}

func validateSample(ctx context.Context, file string, crds []*loadedCRD) (int, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	obj := map[string]interface{}{}
	if err := yaml.Unmarshal(data, &obj); err != nil {
		return 0, fmt.Errorf("%s: %w", file, err)
	}
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	group, version, _ := strings.Cut(apiVersion, "/")
	var crd *apiextensions.CustomResourceDefinition
	for _, c := range crds {
		if c.internal.Spec.Group == group && c.internal.Spec.Names.Kind == kind {
			crd = c.internal
		}
	}
	if crd == nil {
		return 0, fmt.Errorf("%s: no CRD given for %s %s", file, apiVersion, kind)
	}
	var props *apiextensions.JSONSchemaProps
	for _, v := range crd.Spec.Versions {
		if v.Name == version && v.Schema != nil {
			props = v.Schema.OpenAPIV3Schema
		}
	}
	if props == nil && crd.Spec.Validation != nil {
		props = crd.Spec.Validation.OpenAPIV3Schema
	}
	if props == nil {
		return 0, fmt.Errorf("%s: %s serves no version %q", file, crd.Name, version)
	}
	ss, err := schema.NewStructural(props)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", file, err)
	}

	var errs field.ErrorList
	for _, p := range pruning.PruneWithOptions(obj, ss, true, schema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true}) {
		errs = append(errs, field.Forbidden(field.NewPath(p), "unknown field: the API server would prune it"))
	}
	defaulting.Default(obj, ss)
	validator, _, err := objvalidation.NewSchemaValidator(props)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", file, err)
	}
	errs = append(errs, objvalidation.ValidateCustomResource(nil, obj, validator)...)
	celErrs, _ := cel.NewValidator(ss, true, celconfig.PerCallLimit).Validate(ctx, nil, ss, obj, nil, celconfig.RuntimeCELCostBudget)
	errs = append(errs, celErrs...)
	for _, e := range errs {
		fmt.Fprintf(os.Stderr, "%s: %v\n", file, e)
	}
	if len(errs) == 0 {
		fmt.Printf("ok   %s (%s %s)\n", file, apiVersion, kind)
	}
	return len(errs), nil
}
