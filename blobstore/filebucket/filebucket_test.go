package filebucket_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
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
	if err := b.Delete(ctx, "k", v1); !errors.Is(err, driver.ErrPrecondition) {
		t.Fatalf("stale conditional delete: %v, want ErrPrecondition", err)
	}
	if err := b.Delete(ctx, "k", v2); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, "k", ""); err != nil {
		t.Fatalf("delete of a missing key: %v", err)
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
	var all []string
	token := ""
	for pages := 0; ; pages++ {
		keys, next, err := b.List(ctx, "g/", token)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, keys...)
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
		if all[i] <= all[i-1] {
			t.Fatalf("keys out of order: %q after %q", all[i], all[i-1])
		}
	}
}
