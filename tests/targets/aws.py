"""dynamodb:// and s3:// against moto in server mode on 127.0.0.1.

The isolation helpers of ``omnisession_aws.testing`` do the work: one moto
server per test process (pytest-xdist worker), started on first use and
stopped at exit; per test a fresh DynamoDB table, or a fresh key prefix in
the worker's S3 bucket, both removed afterwards. moto gets dummy credentials
only if none are set.
"""

from __future__ import annotations

from omnisession_aws.testing import isolated_dynamodb_url, isolated_s3_url

from . import Target

TARGETS = [
    Target("dynamodb", isolated_dynamodb_url),
    Target("s3", isolated_s3_url),
]
