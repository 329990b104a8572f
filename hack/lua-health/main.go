// Command lua-health runs Argo CD resource-customization health checks the way Argo CD does:
// for every <group>/<Kind>/health.lua under the given directory it reads health_test.yaml
// (tests: [{inputPath, healthStatus: {status, message}}]), decodes each input YAML into a Lua
// table bound to the global `obj`, runs the script with gopher-lua and compares the table it
// returns with the expected health status.
//
// Libraries: Argo CD's VM skips gopher-lua's standard libraries unless open libs are enabled
// (resource.customizations.useOpenLibs.<group>_<Kind>, off by default for argocd-cm checks) and
// then opens only package, base, table and a reduced os. -libs=closed runs like that, -libs=open
// opens everything (as Argo CD's own health test does), -libs=both (default) runs each case both
// ways. Each script runs under Argo CD's 1 s timeout.
//
// Output: one line per case and mode ("ok" or "FAIL"), or with -json one JSON object per line
// {"name","libs","status","message","want":{...},"ok","error"}. Exit code 1 when a case fails,
// 2 on unreadable input.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	lua "github.com/yuin/gopher-lua"
	"sigs.k8s.io/yaml"
)

type healthStatus struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

type testFile struct {
	Tests []struct {
		InputPath    string       `json:"inputPath"`
		HealthStatus healthStatus `json:"healthStatus"`
	} `json:"tests"`
}

type testCase struct {
	name   string // <group>/<Kind>/<inputPath>
	script string
	input  string
	want   healthStatus
}

type result struct {
	Name    string       `json:"name"`
	Libs    string       `json:"libs"`
	Status  string       `json:"status"`
	Message string       `json:"message"`
	Want    healthStatus `json:"want"`
	OK      bool         `json:"ok"`
	Error   string       `json:"error,omitempty"`
}

var validStatuses = map[string]bool{"Healthy": true, "Progressing": true, "Degraded": true, "Suspended": true, "Missing": true, "Unknown": true}

func collect(root string) ([]testCase, error) {
	var cases []testCase
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || d.Name() != "health.lua" {
			return nil
		}
		dir := filepath.Dir(path)
		script, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		raw, err := os.ReadFile(filepath.Join(dir, "health_test.yaml"))
		if err != nil {
			return err
		}
		var tf testFile
		if err := yaml.UnmarshalStrict(raw, &tf); err != nil {
			return fmt.Errorf("%s: %w", filepath.Join(dir, "health_test.yaml"), err)
		}
		if len(tf.Tests) == 0 {
			return fmt.Errorf("%s: no tests", filepath.Join(dir, "health_test.yaml"))
		}
		prefix, err := filepath.Rel(root, dir)
		if err != nil {
			return err
		}
		for _, t := range tf.Tests {
			cases = append(cases, testCase{
				name:   filepath.ToSlash(filepath.Join(prefix, t.InputPath)),
				script: string(script),
				input:  filepath.Join(dir, t.InputPath),
				want:   t.HealthStatus,
			})
		}
		return nil
	})
	sort.Slice(cases, func(i, j int) bool { return cases[i].name < cases[j].name })
	return cases, err
}

// toLua converts a value decoded from YAML (through JSON, as sigs.k8s.io/yaml does) the way
// Argo CD binds an unstructured object: numbers become Lua numbers, lists sequences, maps tables.
func toLua(l *lua.LState, v any) lua.LValue {
	switch x := v.(type) {
	case bool:
		return lua.LBool(x)
	case float64:
		return lua.LNumber(x)
	case int64:
		return lua.LNumber(x)
	case string:
		return lua.LString(x)
	case []any:
		t := l.CreateTable(len(x), 0)
		for _, item := range x {
			t.Append(toLua(l, item))
		}
		return t
	case map[string]any:
		t := l.CreateTable(0, len(x))
		for k, item := range x {
			t.RawSetH(lua.LString(k), toLua(l, item))
		}
		return t
	}
	return lua.LNil
}

// openArgoLibs opens what Argo CD opens on a VM without the standard libraries: package, base,
// table, and an os table with only the functions that neither touch files nor processes.
func openArgoLibs(l *lua.LState) {
	for _, lib := range []struct {
		name string
		fn   lua.LGFunction
	}{{lua.LoadLibName, lua.OpenPackage}, {lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}, {lua.OsLibName, lua.OpenOs}} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.fn), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			panic(err)
		}
	}
	full, ok := l.GetGlobal(lua.OsLibName).(*lua.LTable)
	if !ok {
		panic("os library did not open")
	}
	safe := l.NewTable()
	for _, name := range []string{"clock", "date", "difftime", "time"} {
		safe.RawSetString(name, full.RawGetString(name))
	}
	l.SetGlobal(lua.OsLibName, safe)
	if loaded, ok := l.GetField(l.Get(lua.RegistryIndex), "_LOADED").(*lua.LTable); ok {
		loaded.RawSetString(lua.OsLibName, safe)
	}
}

func run(tc testCase, openLibs bool) (healthStatus, error) {
	raw, err := os.ReadFile(tc.input)
	if err != nil {
		return healthStatus{}, err
	}
	obj := map[string]any{}
	if err := yaml.Unmarshal(raw, &obj); err != nil {
		return healthStatus{}, fmt.Errorf("%s: %w", tc.input, err)
	}
	l := lua.NewState(lua.Options{SkipOpenLibs: !openLibs})
	defer l.Close()
	if !openLibs {
		openArgoLibs(l)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", toLua(l, obj))
	if err := l.DoString(tc.script); err != nil {
		return healthStatus{}, err
	}
	ret, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		return healthStatus{}, fmt.Errorf("expect table output from Lua script, not %s", l.Get(-1).Type())
	}
	var hs healthStatus
	for _, f := range []struct {
		key string
		dst *string
	}{{"status", &hs.Status}, {"message", &hs.Message}} {
		switch v := ret.RawGetString(f.key).(type) {
		case lua.LString:
			*f.dst = string(v)
		case *lua.LNilType:
		default:
			return healthStatus{}, fmt.Errorf("%s is a %s, not a string", f.key, v.Type())
		}
	}
	if !validStatuses[hs.Status] {
		// What Argo CD reports for a status it does not know.
		return healthStatus{Status: "Unknown", Message: "Lua returned an invalid health status"}, nil
	}
	return hs, nil
}

func main() {
	libs := flag.String("libs", "both", "closed (as argocd-cm runs a check), open (all standard libraries), or both")
	asJSON := flag.Bool("json", false, "one JSON object per case and mode")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: lua-health [-libs closed|open|both] [-json] <resource_customizations dir>")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	var modes []bool
	switch *libs {
	case "closed":
		modes = []bool{false}
	case "open":
		modes = []bool{true}
	case "both":
		modes = []bool{false, true}
	default:
		flag.Usage()
		os.Exit(2)
	}
	cases, err := collect(flag.Arg(0))
	if err == nil && len(cases) == 0 {
		err = errors.New("no health.lua found")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "lua-health:", err)
		os.Exit(2)
	}
	failed := 0
	enc := json.NewEncoder(os.Stdout)
	for _, tc := range cases {
		for _, open := range modes {
			r := result{Name: tc.name, Libs: map[bool]string{false: "closed", true: "open"}[open], Want: tc.want}
			got, err := run(tc, open)
			if err != nil {
				r.Error = err.Error()
			} else {
				r.Status, r.Message = got.Status, got.Message
				r.OK = got == tc.want
			}
			if !r.OK {
				failed++
			}
			if *asJSON {
				_ = enc.Encode(r)
			} else if r.OK {
				fmt.Printf("ok   %s (%s libs): %s %q\n", r.Name, r.Libs, r.Status, r.Message)
			} else if r.Error != "" {
				fmt.Printf("FAIL %s (%s libs): %s\n", r.Name, r.Libs, r.Error)
			} else {
				fmt.Printf("FAIL %s (%s libs): got %s %q, want %s %q\n", r.Name, r.Libs, r.Status, r.Message, tc.want.Status, tc.want.Message)
			}
		}
	}
	if !*asJSON {
		fmt.Printf("lua-health: %d cases, %d runs, %d failed\n", len(cases), len(cases)*len(modes), failed)
	}
	if failed > 0 {
		os.Exit(1)
	}
}
