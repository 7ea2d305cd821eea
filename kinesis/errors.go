package kinesis

import (
	"errors"
	"fmt"

	"github.com/aws/smithy-go"

	"github.com/tidemark/tidemark/blobstore"
)

// Errors of the Source, for errors.Is. Each wraps the service's error, whose
// code and message stay in the text.
var (
	// ErrStreamNotFound: the stream (or a shard of it) does not exist.
	ErrStreamNotFound = errors.New("kinesis: stream not found")
	// ErrPermission: the credentials are missing, unknown, expired or not
	// allowed to read the stream.
	ErrPermission = errors.New("kinesis: permission denied")
	// ErrCheckpointNotInStream: a checkpoint's sequence number is not in the
	// stream: trimmed, or from a deleted stream of the same name. See
	// Options.StrictCheckpoints for what Open does about it.
	ErrCheckpointNotInStream = errors.New("kinesis: checkpoint not in the stream")
	// ErrInvalidCheckpoint: a checkpoint's offset is not a Kinesis sequence
	// number (it was written for another source, or edited by hand).
	ErrInvalidCheckpoint = fmt.Errorf("kinesis: invalid checkpoint: %w", blobstore.ErrInvalidArgument)
	// ErrThrottled: the service refused a call for exceeding a rate limit.
	// The SDK's retryer retries such calls a few times; GetRecords and
	// GetShardIterator then go on retrying with a backoff of their own.
	ErrThrottled = errors.New("kinesis: throttled")
	// ErrInvalidArgument: bad input (also blobstore.ErrInvalidArgument).
	ErrInvalidArgument = fmt.Errorf("kinesis: %w", blobstore.ErrInvalidArgument)

	errExpiredIterator = errors.New("kinesis: shard iterator expired")
)

// wrap classifies a service error by its code.
func (s *Source) wrap(op, shard string, err error) error {
	where := "stream " + s.stream
	if shard != "" {
		where += " shard " + shard
	}
	var kind error
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "ResourceNotFoundException":
			kind = ErrStreamNotFound
		case "AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException",
			"MissingAuthenticationTokenException", "MissingAuthenticationToken", "IncompleteSignatureException",
			"IncompleteSignature", "ExpiredTokenException", "ExpiredToken", "KMSAccessDeniedException":
			kind = ErrPermission
		case "ProvisionedThroughputExceededException", "LimitExceededException", "KMSThrottlingException",
			"ThrottlingException":
			kind = ErrThrottled
		case "ExpiredIteratorException":
			kind = errExpiredIterator
		case "InvalidArgumentException", "ValidationException":
			kind = ErrInvalidArgument
		}
	}
	if kind == nil {
		return fmt.Errorf("kinesis: %s %s: %w", op, where, err)
	}
	return fmt.Errorf("%w: %s %s: %w", kind, op, where, err)
}
