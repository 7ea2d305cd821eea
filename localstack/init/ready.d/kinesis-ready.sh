#!/bin/bash
# LocalStack ready hook (mounted at /etc/localstack/init/ready.d by docker-compose.yml):
# LocalStack starts its Kinesis backend on the first Kinesis request; one call here makes
# that happen before the healthcheck passes, so a test's first call does not pay for it.
# Creates nothing: the tests create their own streams.
set -euo pipefail

awslocal kinesis list-streams >/dev/null
echo "kinesis is up"
