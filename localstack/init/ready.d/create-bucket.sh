#!/bin/bash
# LocalStack ready hook (mounted at /etc/localstack/init/ready.d by docker-compose.yml):
# creates bucket `tidemark` once S3 is up. Idempotent, so a restart with state is fine.
set -euo pipefail

bucket=tidemark
if awslocal s3api head-bucket --bucket "$bucket" >/dev/null 2>&1; then
	echo "bucket $bucket already exists"
else
	awslocal s3api create-bucket --bucket "$bucket" >/dev/null
	echo "created bucket $bucket"
fi
