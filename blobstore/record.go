package blobstore

// The record format: one JSON object per partition, at <prefix><id>.json.
//
//	{
//	  "schema": 1,
//	  "partition": "7",
//	  "owner": "host-a",              // empty when free
//	  "token": "9f2c…",               // random per acquisition, empty when free
//	  "epoch": 3,                     // +1 on every acquisition; never decreases
//	  "counter": 118,                 // +1 on every write, so every write's bytes differ
//	  "checkpoint": {"offset": "4096", "sequence": 57},  // absent when none; either field may be absent
//	  "metadata": "…",                // the owner's opaque metadata
//	  "deleted": true,                // tombstone: the record counts as absent
//	  "updated": "2026-11-23T21:40:00Z"  // informational only, never used for expiry
//	}
//
// The store marker lives at <prefix>tidemark-store (no ".json", so it can
// never collide with a partition key) and holds {"schema":1,"kind":"tidemark-store"}.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

const (
	// schemaVersion is the record schema this build reads and writes.
	schemaVersion = 1
	// recordSuffix ends every partition key.
	recordSuffix = ".json"
	// markerName is the key, under the prefix, of the store marker.
	markerName = "tidemark-store"
	markerKind = "tidemark-store"

	// MaxPartitionIDLen is the longest partition id accepted, in bytes. It
	// leaves room in a 255-byte file name for the suffixes that file-backed
	// stores add: ".json.lock" here, and versitygw's posix backend, which
	// overwrites through a temporary file named ".<name>.sgwtmp.<ns>" and so
	// fails for names over 227 bytes.
	MaxPartitionIDLen = 200
	// MaxPrefixLen is the longest key prefix accepted, in bytes.
	MaxPrefixLen = 512
	// MaxMetadataLen is the largest lease metadata accepted, in bytes.
	MaxMetadataLen = 16 << 10
	// MaxOffsetLen is the longest checkpoint offset accepted, in bytes.
	MaxOffsetLen = 256
)

// StartOfStream is the offset of a freshly created checkpoint.
const StartOfStream = "-1"

type record struct {
	Schema    int    `json:"schema"`
	Partition string `json:"partition"`
	Owner     string `json:"owner,omitempty"`
	Token     string `json:"token,omitempty"`
	// Presence names the owner's presence incarnation whose heartbeats renew
	// the lease; empty when only the owner's writes of this record do.
	Presence   string          `json:"presence,omitempty"`
	Epoch      uint64          `json:"epoch"`
	Counter    uint64          `json:"counter"`
	Checkpoint *recordPosition `json:"checkpoint,omitempty"`
	Metadata   string          `json:"metadata,omitempty"`
	Deleted    bool            `json:"deleted,omitempty"`
	Updated    time.Time       `json:"updated"`
}

// recordPosition is a stored checkpoint: an offset, a sequence number, or
// both. Records written before either could be absent always hold both.
type recordPosition struct {
	Offset   string `json:"offset,omitempty"`
	Sequence *int64 `json:"sequence,omitempty"`
}

// positionOf returns the stored form of cp.
func positionOf(cp Checkpoint) *recordPosition {
	pos := &recordPosition{Offset: cp.Offset}
	if cp.SequenceNumber != NoSequenceNumber {
		seq := cp.SequenceNumber
		pos.Sequence = &seq
	}
	return pos
}

// checkpoint returns the caller's view of a stored position.
func (r *recordPosition) checkpoint(id string) *Checkpoint {
	cp := &Checkpoint{PartitionID: id, Offset: r.Offset, SequenceNumber: NoSequenceNumber}
	if r.Sequence != nil {
		cp.SequenceNumber = *r.Sequence
	}
	return cp
}

type marker struct {
	Schema int    `json:"schema"`
	Kind   string `json:"kind"`
}

// held reports whether the record names an owner.
func (r *record) held() bool { return r.Owner != "" }

// advance increments the record's counter, and its epoch when newEpoch, for
// the next write. Counters and epochs never wrap: a record at the maximum
// cannot be written again (a wrapped epoch would break fencing, a wrapped
// counter would make a record the decoder rejects) and is reported as
// corrupt, untouched, for an operator to repair.
func (r *record) advance(key string, newEpoch bool) error {
	if r.Counter == math.MaxUint64 {
		return &CorruptRecordError{Key: key, PartitionID: r.Partition, Reason: "its write counter is at the maximum (2^64-1) and cannot grow"}
	}
	if newEpoch && r.Epoch == math.MaxUint64 {
		return &CorruptRecordError{Key: key, PartitionID: r.Partition, Reason: "its epoch is at the maximum (2^64-1) and cannot grow"}
	}
	r.Counter++
	if newEpoch {
		r.Epoch++
	}
	return nil
}

// clone returns a deep copy, so a mutation never aliases a cached record.
func (r record) clone() record {
	if r.Checkpoint != nil {
		cp := *r.Checkpoint
		if cp.Sequence != nil {
			seq := *cp.Sequence
			cp.Sequence = &seq
		}
		r.Checkpoint = &cp
	}
	return r
}

func encodeRecord(r *record) []byte {
	b, err := json.Marshal(r)
	if err != nil {
		// Only strings, integers and a time: Marshal cannot fail.
		panic(fmt.Sprintf("blobstore: encoding record: %v", err))
	}
	return b
}

// decodeRecord parses and validates a record read from key. Anything it cannot
// vouch for is a *CorruptRecordError: the caller must not overwrite it.
func decodeRecord(key, wantPartition string, data []byte) (_ record, err error) {
	defer func() {
		var ce *CorruptRecordError
		if errors.As(err, &ce) {
			ce.PartitionID = wantPartition
		}
	}()
	var head struct {
		Schema *int `json:"schema"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return record{}, &CorruptRecordError{Key: key, Reason: "not a JSON object", Err: err}
	}
	if head.Schema == nil {
		return record{}, &CorruptRecordError{Key: key, Reason: "no schema version"}
	}
	if *head.Schema != schemaVersion {
		return record{}, &CorruptRecordError{Key: key,
			Reason: fmt.Sprintf("unknown schema version %d (this build reads %d)", *head.Schema, schemaVersion)}
	}
	var r record
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return record{}, &CorruptRecordError{Key: key, Reason: "does not match schema 1", Err: err}
	}
	if dec.More() {
		return record{}, &CorruptRecordError{Key: key, Reason: "trailing data after the record"}
	}
	switch {
	case r.Partition != wantPartition:
		return record{}, &CorruptRecordError{Key: key, Reason: fmt.Sprintf("names partition %q", r.Partition)}
	case (r.Owner == "") != (r.Token == ""):
		return record{}, &CorruptRecordError{Key: key, Reason: "owner and token must be set together"}
	case r.Counter == 0:
		return record{}, &CorruptRecordError{Key: key, Reason: "counter is zero"}
	case len(r.Metadata) > MaxMetadataLen:
		return record{}, &CorruptRecordError{Key: key, Reason: "metadata over the size limit"}
	case r.Checkpoint != nil && r.Checkpoint.Offset == "" && r.Checkpoint.Sequence == nil:
		return record{}, &CorruptRecordError{Key: key, Reason: "checkpoint with neither an offset nor a sequence number"}
	case r.Checkpoint != nil && r.Checkpoint.Sequence != nil && *r.Checkpoint.Sequence < -1:
		return record{}, &CorruptRecordError{Key: key, Reason: fmt.Sprintf("checkpoint sequence number %d", *r.Checkpoint.Sequence)}
	}
	return r, nil
}

func encodeMarker() []byte {
	b, _ := json.Marshal(marker{Schema: schemaVersion, Kind: markerKind})
	return b
}

func decodeMarker(key string, data []byte) error {
	var m marker
	if err := json.Unmarshal(data, &m); err != nil {
		return &CorruptRecordError{Key: key, Reason: "store marker is not JSON", Err: err}
	}
	if m.Kind != markerKind {
		return &CorruptRecordError{Key: key, Reason: "not a tidemark store marker"}
	}
	if m.Schema != schemaVersion {
		return &CorruptRecordError{Key: key,
			Reason: fmt.Sprintf("unknown store schema version %d (this build reads %d)", m.Schema, schemaVersion)}
	}
	return nil
}

// ValidatePartitionID reports whether id is acceptable as a partition id. The
// error wraps ErrInvalidPartitionID.
func ValidatePartitionID(id string) error {
	bad := func(why string) error {
		shown := id
		if len(shown) > 40 {
			shown = shown[:40] + "…"
		}
		return fmt.Errorf("%w %q: %s", ErrInvalidPartitionID, shown, why)
	}
	switch {
	case id == "":
		return bad("empty")
	case len(id) > MaxPartitionIDLen:
		return bad(fmt.Sprintf("%d bytes, longer than %d", len(id), MaxPartitionIDLen))
	case id == "." || id == "..":
		return bad("a relative path element")
	case !utf8.ValidString(id):
		return bad("not valid UTF-8")
	case strings.ContainsAny(id, `/\`):
		return bad("contains a path separator")
	case strings.IndexFunc(id, unicode.IsControl) >= 0:
		return bad("contains a control character")
	}
	return nil
}

// validatePrefix checks a key prefix and returns it in canonical form: empty,
// or ending in "/" (a prefix names a folder; "orders" means "orders/").
func validatePrefix(p string) (string, error) {
	if p == "" {
		return "", nil
	}
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("%w: prefix %q: %s", ErrInvalidArgument, p, why)
	}
	switch {
	case len(p) > MaxPrefixLen:
		return bad("too long")
	case !utf8.ValidString(p):
		return bad("not valid UTF-8")
	case strings.HasPrefix(p, "/"):
		return bad("starts with /")
	case strings.Contains(p, `\`):
		return bad(`contains \`)
	case strings.IndexFunc(p, unicode.IsControl) >= 0:
		return bad("contains a control character")
	}
	for _, seg := range strings.Split(strings.TrimSuffix(p, "/"), "/") {
		switch seg {
		case "", ".", "..":
			return bad("has an empty, . or .. element")
		case strings.TrimSuffix(hostsDir, "/"), ".tidemark-fs":
			return bad(fmt.Sprintf("element %q is reserved", seg))
		}
	}
	return p, nil
}
