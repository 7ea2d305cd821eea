package filebucket_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/blobstore/driver"
	"github.com/tidemark/tidemark/blobstore/filebucket"
)

func TestMissingDirectory(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	root := filepath.Join(t.TempDir(), "not", "yet")
	b, err := filebucket.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "k"); !errors.Is(err, driver.ErrBucketNotFound) {
		t.Fatalf("Get in a missing directory: %v, want ErrBucketNotFound", err)
	}
	if _, _, err := b.List(ctx, "", ""); !errors.Is(err, driver.ErrBucketNotFound) {
		t.Fatalf("List of a missing directory: %v, want ErrBucketNotFound", err)
	}
	if _, err := b.Put(ctx, "a/k", []byte("x"), driver.CreateOnly); err != nil {
		t.Fatalf("first Put creates the directory: %v", err)
	}
	if _, err := b.Get(ctx, "k"); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("Get of a missing key: %v, want ErrNotFound", err)
	}
	if _, err := b.Get(ctx, "a/k/deeper"); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("Get below a file: %v, want ErrNotFound", err)
	}
}

func TestRelativeRootRefused(t *testing.T) {
	if _, err := filebucket.Open("relative/dir"); err == nil {
		t.Fatal("Open of a relative path succeeded")
	}
}

func TestConditions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := filebucket.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	v1, err := b.Put(ctx, "k", []byte("one"), driver.CreateOnly)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Put(ctx, "k", []byte("two"), driver.CreateOnly); !errors.Is(err, driver.ErrPrecondition) {
		t.Fatalf("second create: %v, want ErrPrecondition", err)
	}
	if _, err := b.Put(ctx, "missing", []byte("x"), v1); !errors.Is(err, driver.ErrPrecondition) {
		t.Fatalf("CAS on a missing key: %v, want ErrPrecondition", err)
	}
	v2, err := b.Put(ctx, "k", []byte("two"), v1)
	if err != nil || v2 == v1 {
		t.Fatalf("CAS: version %q -> %q, err %v", v1, v2, err)
	}
	if _, err := b.Put(ctx, "k", []byte("three"), v1); !errors.Is(err, driver.ErrPrecondition) {
		t.Fatalf("stale CAS: %v, want ErrPrecondition", err)
	}
	obj, err := b.Get(ctx, "k")
	if err != nil || string(obj.Data) != "two" || obj.Version != v2 {
		t.Fatalf("Get = %q %q %v, want two %q", obj.Data, obj.Version, err, v2)
	}
	if err := b.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "k"); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("Get after Delete: %v, want ErrNotFound", err)
	}
	if _, err := b.Put(ctx, "k", []byte("four"), v2); !errors.Is(err, driver.ErrPrecondition) {
		t.Fatalf("CAS after Delete: %v, want ErrPrecondition", err)
	}
	if err := b.Delete(ctx, "k"); err != nil {
		t.Fatalf("delete of a missing key: %v", err)
	}
}

// TestDeleteInMissingDirectory: deleting from a directory that does not exist
// succeeds and creates nothing.
func TestDeleteInMissingDirectory(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	root := filepath.Join(t.TempDir(), "absent")
	b, err := filebucket.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, "p/k"); err != nil {
		t.Fatalf("Delete in a missing directory: %v", err)
	}
	if _, err := os.Stat(root); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Delete created the directory: stat = %v", err)
	}
}

// TestErrorMessages: a driver error carries its sentinel and the file
// system's error, and names neither the operation nor the key (the Store adds
// both), nor the object's path, which holds the key.
func TestErrorMessages(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	b, err := filebucket.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	const key = "p/missing-key.json"
	_, err = b.Get(ctx, key)
	if !errors.Is(err, driver.ErrNotFound) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Get of a missing key: %v, want ErrNotFound wrapping the file system error", err)
	}
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Path != filepath.Join(dir, "p", "missing-key.json") {
		t.Fatalf("errors.As(%v, *fs.PathError) = %v, want the object's path", err, pe)
	}
	if msg := err.Error(); strings.Contains(msg, "missing-key") || strings.Contains(msg, `get "`) ||
		!strings.HasPrefix(msg, driver.ErrNotFound.Error()+": ") {
		t.Errorf("Get message %q names the key or the operation, or does not start with the sentinel", msg)
	}

	if _, err := b.Put(ctx, key, []byte("x"), driver.CreateOnly); err != nil {
		t.Fatal(err)
	}
	_, err = b.Put(ctx, key, []byte("y"), driver.CreateOnly)
	if msg := fmt.Sprint(err); !errors.Is(err, driver.ErrPrecondition) || strings.Contains(msg, "missing-key") {
		t.Errorf("create-only Put over an object: %q", msg)
	}
	_, err = b.Put(ctx, "p/other", []byte("y"), "0123")
	if msg := fmt.Sprint(err); !errors.Is(err, driver.ErrPrecondition) || strings.Contains(msg, "other") {
		t.Errorf("compare-and-swap of a missing object: %q", msg)
	}

	missing := filepath.Join(dir, "absent")
	mb, err := filebucket.Open(missing)
	if err != nil {
		t.Fatal(err)
	}
	for what, err := range map[string]error{
		"Get":  func() error { _, err := mb.Get(ctx, key); return err }(),
		"List": func() error { _, _, err := mb.List(ctx, "p/", ""); return err }(),
	} {
		msg := fmt.Sprint(err)
		if !errors.Is(err, driver.ErrBucketNotFound) || !strings.Contains(msg, "the directory "+missing+" does not exist") ||
			strings.Contains(msg, "missing-key") {
			t.Errorf("%s in a missing directory: %q, want ErrBucketNotFound naming the directory and not the key", what, msg)
		}
	}
}

func TestReservedAndInvalidKeys(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	b, err := filebucket.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"", "/abs", "a/../b", "..", "a//b", `a\b`, ".tidemark-fs/locks/x", "a\x00"} {
		if _, err := b.Put(ctx, k, []byte("x"), driver.CreateOnly); err == nil {
			t.Errorf("Put(%q) succeeded", k)
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name() != ".tidemark-fs" {
			t.Errorf("invalid keys left %q behind", e.Name())
		}
	}
}

func TestListPagesAndPrunes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := filebucket.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < filebucket.PageSize+5; i++ {
		k := "g/" + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676))
		if _, err := b.Put(ctx, k, []byte("x"), driver.CreateOnly); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Put(ctx, "h/other", []byte("x"), driver.CreateOnly); err != nil {
		t.Fatal(err)
	}
	var all []driver.Entry
	token := ""
	for pages := 0; ; pages++ {
		entries, next, err := b.List(ctx, "g/", token)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, entries...)
		if next == "" {
			if pages != 1 {
				t.Fatalf("%d pages, want 2", pages+1)
			}
			break
		}
		token = next
	}
	if len(all) != filebucket.PageSize+5 {
		t.Fatalf("listed %d keys, want %d", len(all), filebucket.PageSize+5)
	}
	for i := 1; i < len(all); i++ {
		if all[i].Key <= all[i-1].Key {
			t.Fatalf("keys out of order: %q after %q", all[i].Key, all[i-1].Key)
		}
	}
}

// TestListVersions: List reports the version Get and Put report for the same
// bytes, also after a compare-and-swap.
func TestListVersions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := filebucket.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, k := range []string{"s/b", "s/a/deep", "s/c"} {
		v, err := b.Put(ctx, k, []byte("first "+k), driver.CreateOnly)
		if err != nil {
			t.Fatal(err)
		}
		want[k] = v
	}
	v, err := b.Put(ctx, "s/b", []byte("second"), want["s/b"])
	if err != nil {
		t.Fatal(err)
	}
	want["s/b"] = v
	entries, next, err := b.List(ctx, "s/", "")
	if err != nil || next != "" {
		t.Fatalf("List = next %q, err %v", next, err)
	}
	if len(entries) != len(want) {
		t.Fatalf("List = %v, want %d entries", entries, len(want))
	}
	for _, e := range entries {
		obj, err := b.Get(ctx, e.Key)
		if err != nil {
			t.Fatal(err)
		}
		if e.Version != want[e.Key] || e.Version != obj.Version {
			t.Errorf("%s: listed version %q, Put returned %q, Get returns %q", e.Key, e.Version, want[e.Key], obj.Version)
		}
	}
}
