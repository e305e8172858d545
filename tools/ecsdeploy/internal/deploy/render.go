package deploy

import (
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// ReadOnlyFields are the fields of a described task definition that ECS
// sets itself and RegisterTaskDefinition does not take. Every other field
// is carried over (TestRenderCarriesEveryWritableField keeps this list and
// Render in step with the SDK).
var ReadOnlyFields = []string{
	"Compatibilities", "DeleteRequestedAt", "DeregisteredAt", "RegisteredAt", "RegisteredBy",
	"RequiresAttributes", "Revision", "Status", "TaskDefinitionArn",
}

// Render returns the registration of a new revision of td that differs
// from it only in the image of the named container, keeping every other
// field and container (sidecars, environment, secrets, logging, CPU and
// memory, runtime platform) and the tags. changed is false when that
// container already runs image.
func Render(td *ecstypes.TaskDefinition, tags []ecstypes.Tag, container, image string) (in *ecs.RegisterTaskDefinitionInput, changed bool, err error) {
	idx := -1
	var names []string
	for i, c := range td.ContainerDefinitions {
		names = append(names, aws.ToString(c.Name))
		if aws.ToString(c.Name) == container {
			idx = i
		}
	}
	if idx < 0 {
		return nil, false, fmt.Errorf("task definition %s has no container %q (it has: %s); name it with --container", aws.ToString(td.TaskDefinitionArn), container, strings.Join(names, ", "))
	}
	// The slice is copied so td, which the caller keeps as the revision
	// to roll back to, is not changed.
	containers := append([]ecstypes.ContainerDefinition(nil), td.ContainerDefinitions...)
	changed = aws.ToString(containers[idx].Image) != image
	containers[idx].Image = aws.String(image)
	in = &ecs.RegisterTaskDefinitionInput{
		ContainerDefinitions: containers,
		Family:               td.Family,
		Cpu:                  td.Cpu,
		EnableFaultInjection: td.EnableFaultInjection,
		EphemeralStorage:     td.EphemeralStorage,
		ExecutionRoleArn:     td.ExecutionRoleArn,
		//lint:ignore SA1019 deprecated, but a revision must differ from the running one only in its image
		InferenceAccelerators:         td.InferenceAccelerators,
		IpcMode:                       td.IpcMode,
		Memory:                        td.Memory,
		NetworkMode:                   td.NetworkMode,
		PidMode:                       td.PidMode,
		PlacementConstraints:          td.PlacementConstraints,
		ProxyConfiguration:            td.ProxyConfiguration,
		RequiresCompatibilities:       td.RequiresCompatibilities,
		RuntimePlatform:               td.RuntimePlatform,
		TaskRoleArn:                   td.TaskRoleArn,
		TrustedExecutionConfiguration: td.TrustedExecutionConfiguration,
		Volumes:                       td.Volumes,
	}
	if len(tags) > 0 {
		in.Tags = tags
	}
	return in, changed, nil
}

// ociArch maps ECS's CPU architecture to the OCI platform's.
var ociArch = map[ecstypes.CPUArchitecture]string{
	ecstypes.CPUArchitectureArm64: "arm64",
	ecstypes.CPUArchitectureX8664: "amd64",
}

// checkPlatform refuses an index that has no image for the task
// definition's runtime platform: ECS would start tasks that cannot pull,
// and the circuit breaker would find out minutes later.
func checkPlatform(td *ecstypes.TaskDefinition, platforms []string) error {
	if len(platforms) == 0 || td.RuntimePlatform == nil || td.RuntimePlatform.CpuArchitecture == "" {
		return nil
	}
	want := "linux/" + ociArch[td.RuntimePlatform.CpuArchitecture]
	for _, p := range platforms {
		if p == want {
			return nil
		}
	}
	return fmt.Errorf("the task definition runs %s (%s) but the image index has only %s",
		td.RuntimePlatform.CpuArchitecture, want, strings.Join(platforms, ", "))
}
