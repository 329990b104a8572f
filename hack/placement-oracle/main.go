// Command placement-oracle judges node placement with Kubernetes' own code, for the differential
// test of controller/core/placement.ts and the simulator's scheduler (sim/rules/scheduler.ts).
//
// It reads JSON lines {"node": <core/v1 Node>, "placement": {"nodeSelector", "affinity",
// "tolerations"}} on stdin and writes one JSON verdict per line on stdout, in input order. The
// verdicts are the kube-scheduler's Filter plugins of Kubernetes 1.35, in the default plugin order,
// reduced to the library calls they make (the plugins themselves live in k8s.io/kubernetes, which
// cannot be required as a library):
//
//   - NodeUnschedulable (pkg/scheduler/framework/plugins/nodeunschedulable): a node with
//     spec.unschedulable admits a pod only if its tolerations tolerate
//     node.kubernetes.io/unschedulable:NoSchedule (v1helper.TolerationsTolerateTaint).
//   - TaintToleration (plugins/tainttoleration): v1helper.FindMatchingUntoleratedTaint over the
//     node's taints filtered to NoSchedule and NoExecute (helper.DoNotScheduleTaintsFilterFunc).
//   - NodeAffinity (plugins/nodeaffinity): nodeaffinity.GetRequiredNodeAffinity(pod).Match(node),
//     parse errors ignored as the plugin does (a term that does not parse matches no node).
//
// The feature gate TaintTolerationComparisonOperators (alpha in 1.35, off by default) stays off,
// so Lt/Gt tolerations tolerate nothing.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"

	v1 "k8s.io/api/core/v1"
	corev1 "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"
)

const enableComparisonOperators = false

type placement struct {
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	Affinity     *v1.Affinity      `json:"affinity,omitempty"`
	Tolerations  []v1.Toleration   `json:"tolerations,omitempty"`
}

type input struct {
	Node      v1.Node   `json:"node"`
	Placement placement `json:"placement"`
}

type verdict struct {
	// Unschedulable: the NodeUnschedulable filter refuses the node.
	Unschedulable bool `json:"unschedulable"`
	// UntoleratedTaints: every NoSchedule/NoExecute taint of the node, in node order, that no
	// toleration tolerates; FirstUntoleratedTaint is what TaintToleration's filter finds.
	UntoleratedTaints     []v1.Taint `json:"untoleratedTaints"`
	FirstUntoleratedTaint *v1.Taint  `json:"firstUntoleratedTaint"`
	// NodeSelector and RequiredNodeAffinity each on their own; NodeAffinity is the filter (both).
	NodeSelector         bool `json:"nodeSelector"`
	RequiredNodeAffinity bool `json:"requiredNodeAffinity"`
	NodeAffinity         bool `json:"nodeAffinity"`
	// FirstFailure: the first filter plugin that refuses the node, "" when the pod fits.
	FirstFailure string `json:"firstFailure"`
	Fits         bool   `json:"fits"`
}

func doNotScheduleTaints(t *v1.Taint) bool {
	return t.Effect == v1.TaintEffectNoSchedule || t.Effect == v1.TaintEffectNoExecute
}

func judge(logger klog.Logger, in *input) verdict {
	node := &in.Node
	p := in.Placement
	v := verdict{UntoleratedTaints: []v1.Taint{}}

	v.Unschedulable = node.Spec.Unschedulable && !corev1.TolerationsTolerateTaint(logger, p.Tolerations,
		&v1.Taint{Key: v1.TaintNodeUnschedulable, Effect: v1.TaintEffectNoSchedule}, enableComparisonOperators)

	if taint, found := corev1.FindMatchingUntoleratedTaint(logger, node.Spec.Taints, p.Tolerations, doNotScheduleTaints, enableComparisonOperators); found {
		v.FirstUntoleratedTaint = &taint
	}
	for _, t := range node.Spec.Taints {
		if taint, found := corev1.FindMatchingUntoleratedTaint(logger, []v1.Taint{t}, p.Tolerations, doNotScheduleTaints, enableComparisonOperators); found {
			v.UntoleratedTaints = append(v.UntoleratedTaints, taint)
		}
	}

	selectorOnly := &v1.Pod{Spec: v1.PodSpec{NodeSelector: p.NodeSelector}}
	v.NodeSelector, _ = nodeaffinity.GetRequiredNodeAffinity(selectorOnly).Match(node)
	v.RequiredNodeAffinity = true
	if a := p.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		v.RequiredNodeAffinity, _ = corev1.MatchNodeSelectorTerms(node, a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution)
	}
	pod := &v1.Pod{Spec: v1.PodSpec{NodeSelector: p.NodeSelector, Affinity: p.Affinity, Tolerations: p.Tolerations}}
	v.NodeAffinity, _ = nodeaffinity.GetRequiredNodeAffinity(pod).Match(node)

	switch {
	case v.Unschedulable:
		v.FirstFailure = "NodeUnschedulable"
	case v.FirstUntoleratedTaint != nil:
		v.FirstFailure = "TaintToleration"
	case !v.NodeAffinity:
		v.FirstFailure = "NodeAffinity"
	default:
		v.Fits = true
	}
	return v
}

func main() {
	logger := klog.Background()
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	out := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(out)
	for line := 1; in.Scan(); line++ {
		if len(in.Bytes()) == 0 {
			continue
		}
		var c input
		if err := json.Unmarshal(in.Bytes(), &c); err != nil {
			fmt.Fprintf(os.Stderr, "placement-oracle: line %d: %v\n", line, err)
			os.Exit(2)
		}
		if err := enc.Encode(judge(logger, &c)); err != nil {
			fmt.Fprintf(os.Stderr, "placement-oracle: %v\n", err)
			os.Exit(1)
		}
	}
	if err := in.Err(); err != nil {
		fmt.Fprintf(os.Stderr, "placement-oracle: reading stdin: %v\n", err)
		os.Exit(2)
	}
	if err := out.Flush(); err != nil {
		fmt.Fprintf(os.Stderr, "placement-oracle: %v\n", err)
		os.Exit(1)
	}
}
