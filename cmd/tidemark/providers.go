package main

// The providers this binary knows, besides the built-in file:// and mem://.
// Each registers its URL scheme with blobstore in its init function.
import (
	_ "github.com/tidemark/tidemark/azblob" // azblob://CONTAINER
	_ "github.com/tidemark/tidemark/gcs"    // gs://BUCKET
	_ "github.com/tidemark/tidemark/s3"     // s3://BUCKET
)
