// Validates docker-compose.yml with compose-go, the library Docker Compose itself loads files
// with: the Compose schema, types, variable interpolation, and references between services.
// Then checks what this repository relies on: the services and their start order, that every
// bind-mounted file exists, that Keycloak imports deploy/keycloak/realm-kop.json (the realm the
// native harness imports too), and that the proxy's ports are published.
//
//	cd harness/compose && go run . ../../docker-compose.yml      (.ci/run runs it)
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: compose-check docker-compose.yml")
		os.Exit(2)
	}
	file, err := filepath.Abs(os.Args[1])
	if err != nil {
		fail("%v", err)
	}
	options, err := cli.NewProjectOptions([]string{file},
		cli.WithWorkingDirectory(filepath.Dir(file)),
		cli.WithOsEnv,
		cli.WithConsistency(true),
		cli.WithResolvedPaths(true),
		cli.WithProfiles([]string{"metrics"}), // the optional services are checked too
	)
	if err != nil {
		fail("%v", err)
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		fail("%s: %v", file, err)
	}
	var problems []string
	want := map[string][]string{
		"kafka-1":  nil,
		"kafka-2":  nil,
		"kafka-3":  nil,
		"keycloak": nil,
		"postgres": nil,
		"proxy":    {"kafka-1", "kafka-2", "kafka-3", "keycloak", "postgres"},
	}
	for name, deps := range want {
		service, ok := project.Services[name]
		if !ok {
			problems = append(problems, fmt.Sprintf("service %s is missing", name))
			continue
		}
		if service.HealthCheck == nil || len(service.HealthCheck.Test) == 0 {
			if name != "proxy" { // the proxy's health check is the image's own (Dockerfile)
				problems = append(problems, fmt.Sprintf("service %s has no health check", name))
			}
		}
		for _, dep := range deps {
			d, ok := service.DependsOn[dep]
			if !ok || d.Condition != types.ServiceConditionHealthy {
				problems = append(problems, fmt.Sprintf("service %s must wait for %s to be healthy", name, dep))
			}
		}
	}
	for _, service := range project.Services {
		for _, v := range service.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			if _, err := os.Stat(v.Source); err != nil {
				problems = append(problems, fmt.Sprintf("service %s mounts %s, which does not exist", service.Name, v.Source))
			}
		}
	}
	// The realm the native harness imports (harness/keycloak/keycloak.sh) is the one Compose imports.
	realm := filepath.Join(filepath.Dir(file), "deploy", "keycloak", "realm-kop.json")
	if keycloak, ok := project.Services["keycloak"]; ok {
		imported := false
		for _, v := range keycloak.Volumes {
			imported = imported || (v.Source == realm && strings.HasPrefix(v.Target, "/opt/keycloak/data/import/"))
		}
		if !imported {
			problems = append(problems, fmt.Sprintf("service keycloak does not import %s", realm))
		}
	}
	if proxy, ok := project.Services["proxy"]; ok {
		if proxy.Build == nil {
			problems = append(problems, "service proxy is not built from the Dockerfile")
		}
		published := map[string]bool{}
		for _, p := range proxy.Ports {
			published[p.Published] = true
		}
		for _, port := range []string{"9092", "9101", "9102", "9103", "8080"} {
			if !published[port] {
				problems = append(problems, fmt.Sprintf("service proxy does not publish port %s", port))
			}
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		fail("%s:\n  %s", file, strings.Join(problems, "\n  "))
	}
	names := project.ServiceNames()
	sort.Strings(names)
	fmt.Printf("%s: valid (compose-go); project %s, services %s\n", filepath.Base(file), project.Name, strings.Join(names, " "))
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "compose-check: "+format+"\n", args...)
	os.Exit(1)
}
