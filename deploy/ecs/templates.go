// Package ecstemplate holds the task definition templates for a first
// deployment of each service (api.json, consumer.json), in the JSON that
// `aws ecs register-task-definition --cli-input-json` takes, with
// ${PLACEHOLDER}s for what differs per account and environment. After the
// first deployment, tools/ecsdeploy renders every later revision from the
// running one; see docs/deploy.md.
package ecstemplate

import (
	"embed"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

//go:embed api.json consumer.json
var files embed.FS

// Services are the services with a template, named as their images are.
var Services = []string{"api", "consumer"}

var placeholder = regexp.MustCompile(`\$\{([A-Z][A-Z0-9_]*)\}`)

// Template returns the raw template of service.
func Template(service string) ([]byte, error) {
	b, err := files.ReadFile(service + ".json")
	if err != nil {
		return nil, fmt.Errorf("no task definition template for %q (have: %s)", service, strings.Join(Services, ", "))
	}
	return b, nil
}

// Placeholders lists the ${NAMES} service's template needs, sorted.
func Placeholders(service string) ([]string, error) {
	b, err := Template(service)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var names []string
	for _, m := range placeholder.FindAllStringSubmatch(string(b), -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			names = append(names, m[1])
		}
	}
	sort.Strings(names)
	return names, nil
}

// Render fills in service's template. Every placeholder must have a
// value, and every value a placeholder, so a misspelt name is an error
// rather than a literal "${...}" in a running task.
func Render(service string, vars map[string]string) ([]byte, error) {
	b, err := Template(service)
	if err != nil {
		return nil, err
	}
	names, _ := Placeholders(service)
	var missing, unused []string
	need := map[string]bool{}
	for _, n := range names {
		need[n] = true
		if _, ok := vars[n]; !ok {
			missing = append(missing, n)
		}
	}
	for k := range vars {
		if !need[k] {
			unused = append(unused, k)
		}
	}
	sort.Strings(unused)
	if len(missing) > 0 || len(unused) > 0 {
		return nil, fmt.Errorf("%s template: missing values for %v, no placeholder for %v", service, missing, unused)
	}
	// Placeholders sit inside JSON strings: values are escaped for one.
	return placeholder.ReplaceAllFunc(b, func(m []byte) []byte {
		q, _ := json.Marshal(vars[string(m[2:len(m)-1])])
		return q[1 : len(q)-1]
	}), nil
}
