package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

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
func (d *Deployer) validateImage(ctx context.Context, ref ImageRef, requireScan bool) (validated, error) {
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
	if !requireScan {
		return v, nil
	}
	return v, d.checkScan(ctx, ref, regID, scanned)
}

// checkScan refuses digests whose scan is missing, unfinished, or found
// anything CRITICAL. ECR scans each platform's image, not the index.
func (d *Deployer) checkScan(ctx context.Context, ref ImageRef, regID *string, digests []string) error {
	ids := make([]ecrtypes.ImageIdentifier, len(digests))
	for i, dg := range digests {
		ids[i] = ecrtypes.ImageIdentifier{ImageDigest: aws.String(dg)}
	}
	out, err := d.ECR.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String(ref.Repository), RegistryId: regID, ImageIds: ids})
	if err != nil {
		var inf *ecrtypes.ImageNotFoundException
		if errors.As(err, &inf) {
			return imageErr("%s: a platform image of %s is missing from ECR: %v", ref.Name(), ref.Digest, err)
		}
		return awsErr(err, "ecr:DescribeImages (scan findings) %s", ref)
	}
	var problems []string
	for _, img := range out.ImageDetails {
		dg := aws.ToString(img.ImageDigest)
		status := ""
		if img.ImageScanStatus != nil {
			status = string(img.ImageScanStatus.Status)
		}
		switch {
		case status == "":
			problems = append(problems, dg+": never scanned")
		case status != string(ecrtypes.ScanStatusComplete) || img.ImageScanFindingsSummary == nil:
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
	return nil
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}
