// The Argo CD health-check harness: runs argocd/resource_customizations/**/health.lua over the
// cases of each health_test.yaml with gopher-lua, the Lua 5.1 interpreter Argo CD embeds (built
// by hack/lua-health/build.sh).
module virtfleet/hack/lua-health

go 1.25.0

require (
	github.com/yuin/gopher-lua v1.1.1
	sigs.k8s.io/yaml v1.6.0
)

require go.yaml.in/yaml/v2 v2.4.2 // indirect
