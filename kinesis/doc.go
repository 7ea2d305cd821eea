// Package kinesis reads Amazon Kinesis Data Streams for a processor.Host,
// with leases and checkpoints in any Tidemark store: an S3 bucket instead of
// the DynamoDB table the Kinesis Client Library needs.
package kinesis
