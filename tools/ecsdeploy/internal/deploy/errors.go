package deploy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/aws/smithy-go"
)

// Kind classifies a failed deploy; the command maps it to its exit code.
type Kind int

// Kinds, in the order of the exit codes documented in docs/deploy.md.
const (
	// KindUsage: bad flags or image references; nothing was read or changed.
	KindUsage Kind = iota + 2
	// KindImage: an image failed validation; nothing was changed.
	KindImage
	// KindAWS: AWS refused or failed a call before anything was changed
	// (credentials, permissions, a missing service, throttling that
	// outlasted the retries).
	KindAWS
	// KindRollback: the services may be left on a new revision: a rollback
	// failed, or an AWS call failed after a change without
	// --rollback-on-failure to undo it. Act by hand (docs/deploy.md).
	KindRollback
	// KindFailed: the rollout failed, timed out or did not verify. With
	// --rollback-on-failure the services are back, stable, on their
	// previous revisions.
	KindFailed Kind = 1
)

// Error is a failed deploy.
type Error struct {
	Kind Kind
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

func usageErr(format string, args ...any) error {
	return &Error{Kind: KindUsage, Err: fmt.Errorf(format, args...)}
}

func imageErr(format string, args ...any) error {
	return &Error{Kind: KindImage, Err: fmt.Errorf(format, args...)}
}

// awsErr wraps a failed AWS call, explaining the failures a person can
// fix: missing or rejected credentials and missing permissions.
func awsErr(err error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	return &Error{Kind: KindAWS, Err: fmt.Errorf("%s: %w%s", what, err, Hint(err))}
}

// Credential errors from the SDK's chain, and the service error codes of a
// key that is unknown, expired or malformed.
var credentialCodes = map[string]bool{
	"UnrecognizedClientException": true, "InvalidClientTokenId": true, "ExpiredTokenException": true,
	"ExpiredToken": true, "InvalidSignatureException": true, "SignatureDoesNotMatch": true,
	"MissingAuthenticationTokenException": true, "IncompleteSignature": true,
}

// Hint returns advice for a credentials or permission failure ("" for any
// other error). It never repeats a credential: it names where they come
// from.
func Hint(err error) string {
	const chain = "; the tool uses the AWS SDK's default credential chain: set AWS_PROFILE (then `aws sso login`), " +
		"or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or in GitHub Actions assume the deploy role with " +
		"aws-actions/configure-aws-credentials (OIDC); check with `aws sts get-caller-identity`"
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code := ae.ErrorCode()
		switch {
		case credentialCodes[code]:
			return " (AWS rejected the credentials: they are unknown, expired or malformed" + chain + ")"
		case code == "AccessDeniedException" || code == "AccessDenied":
			return " (the identity lacks a permission: docs/deploy-iam-policy.json lists every one the deploy needs)"
		}
		return ""
	}
	msg := err.Error()
	if strings.Contains(msg, "failed to retrieve credentials") || strings.Contains(msg, "no EC2 IMDS role found") ||
		strings.Contains(msg, "failed to refresh cached credentials") || strings.Contains(msg, "static credentials are empty") {
		return " (no AWS credentials found" + chain + ")"
	}
	return ""
}
