package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
)

// ECR is the part of the ECR client a deploy uses: read-only.
type ECR interface {
	DescribeImages(ctx context.Context, in *ecr.DescribeImagesInput, opts ...func(*ecr.Options)) (*ecr.DescribeImagesOutput, error)
	BatchGetImage(ctx context.Context, in *ecr.BatchGetImageInput, opts ...func(*ecr.Options)) (*ecr.BatchGetImageOutput, error)
}

// Manifest media types BatchGetImage may return; ECR answers with the
// stored type only when the caller accepts it.
var manifestTypes = []string{
	"application/vnd.oci.image.index.v1+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.docker.distribution.manifest.v2+json",
}

// validated is what the checks learned about an image.
type validated struct {
	// platforms of an index ("linux/arm64"); nil for a single-platform
	// manifest, whose platform is in its config blob, not read here.
	platforms []string
}

// validateImage checks that ref exists in ECR and, with requireScan, that
// ECR's scan of it (of each platform's image, for an index) completed
// without CRITICAL findings.
//
// The two calls are what the "validate" means: DescribeImages
// proves the digest is in the repository (and carries the scan), and
// BatchGetImage reads the manifest, whose platforms are checked against
// the task definition's runtime platform.
func (d *Deployer) validateImage(ctx context.Context, ref ImageRef, opts Options) (validated, error) {
	var v validated
	regID := optional(ref.RegistryID())
	desc, err := d.ECR.DescribeImages(ctx, &ecr.DescribeImagesInput{
		RepositoryName: aws.String(ref.Repository),
		RegistryId:     regID,
		ImageIds:       []ecrtypes.ImageIdentifier{{ImageDigest: aws.String(ref.Digest)}},
	})
	if err != nil {
		var inf *ecrtypes.ImageNotFoundException
		var rnf *ecrtypes.RepositoryNotFoundException
		switch {
		case errors.As(err, &inf):
			return v, imageErr("%s is not in ECR: no image %s in repository %s (was it pushed? `bazel run //images:push` prints the digests it pushed)", ref.Name(), ref.Digest, ref.Repository)
		case errors.As(err, &rnf):
			return v, imageErr("%s: repository %s does not exist in registry %s", ref.Name(), ref.Repository, ref.Registry)
		}
		return v, awsErr(err, "ecr:DescribeImages %s", ref)
	}
	if len(desc.ImageDetails) != 1 {
		return v, imageErr("%s is not in ECR: DescribeImages returned %d images for %s", ref.Name(), len(desc.ImageDetails), ref.Digest)
	}
	if desc.ImageDetails[0].ImageStatus == ecrtypes.ImageStatusArchived {
		return v, imageErr("%s: image %s is archived in ECR; restore it before deploying", ref.Name(), ref.Digest)
	}

	got, err := d.ECR.BatchGetImage(ctx, &ecr.BatchGetImageInput{
		RepositoryName:     aws.String(ref.Repository),
		RegistryId:         regID,
		ImageIds:           []ecrtypes.ImageIdentifier{{ImageDigest: aws.String(ref.Digest)}},
		AcceptedMediaTypes: manifestTypes,
	})
	if err != nil {
		return v, awsErr(err, "ecr:BatchGetImage %s", ref)
	}
	if len(got.Images) != 1 {
		reason := "no manifest returned"
		if len(got.Failures) > 0 {
			reason = fmt.Sprintf("%s: %s", got.Failures[0].FailureCode, aws.ToString(got.Failures[0].FailureReason))
		}
		return v, imageErr("%s: cannot read the manifest of %s: %s", ref.Name(), ref.Digest, reason)
	}
	var idx struct {
		MediaType string `json:"mediaType"`
		Manifests []struct {
			Digest   string `json:"digest"`
			Platform struct {
				OS           string `json:"os"`
				Architecture string `json:"architecture"`
			} `json:"platform"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal([]byte(aws.ToString(got.Images[0].ImageManifest)), &idx); err != nil {
		return v, imageErr("%s: manifest of %s is not JSON: %v", ref.Name(), ref.Digest, err)
	}
	scanned := []string{ref.Digest}
	if len(idx.Manifests) > 0 {
		scanned = nil
		for _, m := range idx.Manifests {
			if m.Platform.OS == "" || m.Platform.OS == "unknown" {
				continue // attestations and other non-image entries
			}
			v.platforms = append(v.platforms, m.Platform.OS+"/"+m.Platform.Architecture)
			scanned = append(scanned, m.Digest)
		}
		sort.Strings(v.platforms)
	}
	if !opts.RequireScan {
		return v, nil
	}
	return v, d.checkScan(ctx, ref, regID, scanned, opts.Poll, opts.Timeout)
}

// Scan statuses that mean "not finished yet": the deploy waits for them.
var scanPending = map[string]bool{"IN_PROGRESS": true, "PENDING": true}

// Scan statuses with findings to judge (ACTIVE: enhanced scanning).
var scanDone = map[string]bool{string(ecrtypes.ScanStatusComplete): true, "ACTIVE": true}

// checkScan refuses digests whose scan is missing, failed, or found
// anything CRITICAL, and waits (poll, up to timeout) for scans still
// running: a release deploys right after its push, before scan-on-push
// has finished. ECR scans each platform's image, not the index.
func (d *Deployer) checkScan(ctx context.Context, ref ImageRef, regID *string, digests []string, poll, timeout time.Duration) error {
	ids := make([]ecrtypes.ImageIdentifier, len(digests))
	for i, dg := range digests {
		ids[i] = ecrtypes.ImageIdentifier{ImageDigest: aws.String(dg)}
	}
	deadline := d.Clock.Now().Add(timeout)
	for {
		out, err := d.ECR.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String(ref.Repository), RegistryId: regID, ImageIds: ids})
		if err != nil {
			var inf *ecrtypes.ImageNotFoundException
			if errors.As(err, &inf) {
				return imageErr("%s: a platform image of %s is missing from ECR: %v", ref.Name(), ref.Digest, err)
			}
			return awsErr(err, "ecr:DescribeImages (scan findings) %s", ref)
		}
		var problems, pending []string
		for _, img := range out.ImageDetails {
			dg := aws.ToString(img.ImageDigest)
			status := ""
			if img.ImageScanStatus != nil {
				status = string(img.ImageScanStatus.Status)
			}
			switch {
			case status == "":
				problems = append(problems, dg+": never scanned (turn on scan on push for the repository, or drop --require-scan)")
			case scanPending[status]:
				pending = append(pending, dg)
			case !scanDone[status] || img.ImageScanFindingsSummary == nil:
				problems = append(problems, fmt.Sprintf("%s: scan %s", dg, status))
			default:
				if n := img.ImageScanFindingsSummary.FindingSeverityCounts[string(ecrtypes.FindingSeverityCritical)]; n > 0 {
					problems = append(problems, fmt.Sprintf("%s: %d CRITICAL finding(s)", dg, n))
				}
			}
		}
		if len(problems) > 0 {
			return imageErr("%s refused by --require-scan: %s", ref.Name(), strings.Join(problems, "; "))
		}
		if len(pending) == 0 {
			return nil
		}
		if !d.Clock.Now().Before(deadline) {
			return imageErr("%s refused by --require-scan: scan still running after %s for %s", ref.Name(), timeout, strings.Join(pending, ", "))
		}
		d.printf("      %s: waiting for the ECR scan of %s\n", ref.Name(), strings.Join(pending, ", "))
		if err := d.Clock.Sleep(ctx, poll); err != nil {
			return &Error{Kind: KindImage, Err: fmt.Errorf("interrupted while waiting for the scan: %w", err)}
		}
	}
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}
