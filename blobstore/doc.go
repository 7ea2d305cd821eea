// Package blobstore is Tidemark's portable checkpoint and lease store: the
// EventProcessorHost checkpoint manager and lease manager, kept as one JSON
// object per partition in any object store, with leases enforced by
// conditional writes alone.
//
//	store, err := blobstore.Open(ctx, "file:///var/lib/app/ckpt?prefix=orders/billing/", nil)
//	// or mem://, s3://bucket?region=…, gs://bucket, azblob://container
//
// # URLs
//
// "mem://" opens a new private in-memory store; "mem://NAME" opens the
// process-wide in-memory namespace NAME, shared by every Store opened on it.
// "file:///ABS/DIR" opens a directory (created on the first write), safe for
// several processes at once. Importing github.com/tidemark/tidemark/s3, /gcs
// or /azblob registers "s3://", "gs://" and "azblob://". Every scheme takes
// "prefix=FOLDER/": the store keeps its objects under it, so several consumer
// groups or streams can share a bucket.
//
// # Seed methods and their Go methods
//
// Checkpoint manager (AbstractCheckpointManager):
//
//	create_checkpoint_store_if_not_exists  Store.CreateStoreIfNotExists (and StoreExists)
//	create_checkpoint_if_not_exists        Store.CreateCheckpointIfNotExists
//	get_checkpoint                         Store.GetCheckpoint (found == false for "None")
//	update_checkpoint(lease, checkpoint)   Store.UpdateCheckpoint
//	delete_checkpoint                      Store.DeleteCheckpoint
//
// Lease manager:
//
//	create lease store if not exists  Store.CreateStoreIfNotExists
//	delete lease store                Store.DeleteStore
//	get lease                         Store.GetLease
//	get all leases                    Store.ListLeases (Store.Scan for a balancer)
//	create lease if not exists        Store.CreateLeaseIfNotExists
//	acquire lease                     Store.Acquire (free or expired), Store.Steal (on purpose)
//	renew lease                       Store.Renew
//	release lease                     Store.Release
//	update lease                      Store.UpdateLease (the owner's metadata)
//	delete lease                      Store.DeleteLease
//	lease duration, renew interval    Store.LeaseDuration, Store.RenewInterval
//
// Operator edits (not in the seed): Store.SetCheckpoint and Store.ForceRelease
// are refused while a host holds the lease unless forced, and a forced one
// fences the holder (owner cleared, epoch bumped).
//
// # Leases
//
// A lease is held by an owner (Options.Owner) under a random token and an
// epoch that grows with every acquisition. Every write is one conditional
// write on the version the writer last saw, so of two racing writers exactly
// one wins and the other gets ErrLeaseHeld or ErrLeaseLost. A lease is free
// when released, or when this Store has seen no write to it for a whole
// LeaseDuration by its own monotonic clock: no other host's clock is trusted.
// An owner that has not renewed within LeaseDuration stops acting as owner.
//
// # Groups: presence and one heartbeat for every lease
//
// A host of a group calls Heartbeat every RenewInterval: one write of its
// presence record, which counts the host in the group and renews every lease
// it holds, so a group whose partitions are idle writes one record per host
// per interval, not one per partition. A lease renewed that way expires only
// once its record and its owner's presence record both stood still for
// LeaseDuration; the host that takes it first fences the presence record, so
// a heartbeat still in flight renews nothing. A balancer reads the group with
// Scan: one listing of partitions and hosts with their versions, and no
// record read in steady state. A Store that never calls Heartbeat keeps the
// plain lease-manager behaviour: Renew writes the record. The lease rules are
// written out at the top of lease.go.
//
// # Costs
//
// On the happy path UpdateCheckpoint, Renew, Release and UpdateLease cost one
// conditional write each and no read (the Store keeps the version its own last
// write returned); Renew costs nothing when a write landed within
// RenewInterval. Acquire and Steal cost one conditional write, plus one read
// unless a listing or a read through the Store saw the record within
// RenewInterval. ListLeases and Scan cost one listing per page of keys (a
// listing carries each object's version) plus one read per record whose
// version the Store has not read or written before, at most
// Options.ListConcurrency at a time; a group in steady state reads none.
//
// # Errors
//
// Every error wraps one of the sentinels in errors.go (ErrLeaseLost,
// ErrLeaseHeld, ErrStoreNotFound, ErrCorrupt, …); test with errors.Is. A
// write whose response is lost is resolved by reading the record back: every
// write's bytes are unique (the counter grows with each), so the Store
// recognises its own write by them. A refusal (ErrLeaseLost, ErrLeaseHeld)
// always means nothing was written. When the read-back cannot settle it
// (another host wrote on top before it, or it failed), the error is
// ErrOutcomeUnknown, which also matches ErrUnavailable: the change may be
// stored, and the Store reads before its next write to the partition. A record that does not parse, or has an unknown schema
// version, is reported as ErrCorrupt and is never overwritten.
package blobstore
