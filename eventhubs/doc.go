// Package eventhubs is the Azure Event Hubs Processor's checkpoint store on
// any Tidemark store: S3, GCS, Azure Blob Storage, a file system or memory.
//
// The Processor (github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2)
// balances partitions and checkpoints through an azeventhubs.CheckpointStore,
// and the SDK ships only one on Azure Blob Storage. CheckpointStore is another:
//
//	store, err := eventhubs.Open(ctx, "s3://bucket?region=eu-west-1&prefix=eventhubs", nil)
//	// ... handle err; defer store.Close()
//	processor, err := azeventhubs.NewProcessor(consumerClient, store, nil)
//	// ... run it as the SDK documents: go processor.Run(ctx), then
//	// processor.NextPartitionClient(ctx) for each partition it claims.
//
// Each consumer group lives in a folder of the store,
// <namespace>/<event hub>/<consumer group>/, with one record per partition
// that holds its ownership and its checkpoint, and a presence record per
// Processor (its ClientID) under .hosts/.
//
// # Where it differs from the SDK's blob store
//
// Fenced checkpoints. SetCheckpoint for a partition this store no longer owns
// fails with ErrNotOwner (errors.Is blobstore.ErrLeaseLost), and nothing is
// written. The Processor does not close the client of a partition it lost,
// so with the blob store a processor that lost a partition keeps moving its
// checkpoint under the new owner's. Here its UpdateCheckpoint fails: close
// that ProcessorPartitionClient when it does.
//
// Expiry immune to clock skew. The load balancer treats an ownership as
// expired when time.Since(LastModifiedTime) exceeds its
// PartitionExpirationDuration (a minute by default). ListOwnership reports
// LastModifiedTime as this process's clock minus how long this store has
// seen neither the partition's record nor its owner's presence record
// change, so no other machine's clock is ever compared with this one. The
// price: a store sees everything as fresh when it first lists it, so a
// freshly started Processor waits one expiry duration before it takes the
// partitions of a processor that died before it started. Options.ServerTime
// reports the storage service's time of the last write instead, as the blob
// store does: no such wait, but the service's clock and this machine's are
// then compared, and their skew moves expiry.
//
// Cost. A checkpoint is one write, and it renews the ownership. A
// Processor's round (ListOwnership, then ClaimOwnership of what it keeps and
// takes) is one listing of the group (a request per 1,000 keys on S3 and
// GCS, 5,000 on Azure) and one write of the Processor's presence record,
// which renews every partition it owns: the blob store makes one write per
// owned partition per round. A listing reads no record unless its version
// changed in a way that can change the balance (a steady group reads none).
// ListCheckpoints (called when a Processor starts processing partitions it
// claimed) reads the records whose version it has not read.
//
// Claims. A claim with a nil ETag creates the partition's record
// (create-only); one with an ETag takes the partition only if neither its
// record nor its owner's presence record changed since that ETag was listed
// (blobstore.Store.Take), so of processors claiming with one ETag exactly
// one wins, whether they take it or its owner renews it. A claim that loses
// is left out of the result, as the Processor expects; a store that cannot be
// used at all (permission denied, the bucket missing) is an error, which ends
// Processor.Run. A claim with an empty OwnerID relinquishes a partition only
// if a Processor of this store owns it; a Processor that relinquishes all it
// owns leaves the group, so the others see its partitions free at their
// next listing.
//
// Checkpoints may carry an offset, a sequence number, or both.
//
// # Timing
//
// The store's lease duration (30 s by default) must exceed the Processor's
// longest round (UpdateInterval, 10 s by default, jittered up to x1.3): a
// processor whose ownerships were not renewed for a lease duration has its
// checkpoints refused until its next round renews them. Keep the Processor's
// PartitionExpirationDuration above the lease duration.
package eventhubs
