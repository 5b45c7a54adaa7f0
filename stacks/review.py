"""Reviews: review_api behind a Lambda function URL with AuthType AWS_IAM (always on, not opt-in).

The function URL's IAM authorizer verifies each request's SigV4 signature and the caller's identity policy
(lambda:InvokeFunctionUrl on this function); the function records the verified caller ARN as the reviewer.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct

from functions.common import table_design
from glue import VERDICTS
from stacks.lambda_factory import LambdaFactory, settings_environment
from stacks.nag import acknowledge, object_findings, wildcard_resource_finding
from stacks.storage_access import VIDEO_ITEMS, grant_index_queries, grant_items, grant_objects

REVIEW_FOLDER = "review_api"
REVIEW_FUNCTION_TIMEOUT = Duration.seconds(30)
# What DynamoVideoStore calls for the API: the summary (GetItem), the verdict history (Query on the video's items),
# a new verdict (conditional PutItem) and the summary's latest verdict (conditional UpdateItem).
REVIEW_ITEM_ACTIONS = ("dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem")
REVIEW_INDEXES = (table_design.BY_OBJECT, table_design.REVIEW_QUEUE)


class Review(Construct):
    """review_api (GET /videos, GET /review-queue, POST /videos/{id}/verdicts) and its AWS_IAM function URL."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        lambda_factory: LambdaFactory,
        analytics_bucket: s3.IBucket,
        videos_table: dynamodb.ITable,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = lambda_factory.function(
            self,
            "ReviewApi",
            folder=REVIEW_FOLDER,
            description="modlake: looks up videos and records reviewers' verdicts behind an AWS_IAM function URL",
            timeout=REVIEW_FUNCTION_TIMEOUT,
            memory_size=1024,
            environment=settings_environment(
                videos_table=videos_table.table_name,
                analytics_bucket=analytics_bucket.bucket_name,
            ),
        )
        grant_items(self.function, videos_table, REVIEW_ITEM_ACTIONS, [VIDEO_ITEMS])
        grant_index_queries(self.function, videos_table, REVIEW_INDEXES)
        verdict_objects = {f"{VERDICTS.prefix}*": f"Parquet objects of the {VERDICTS.name} table, one per verdict"}
        grant_objects(self.function, analytics_bucket, ["s3:PutObject"], verdict_objects)
        # AWS_IAM: only signed requests from principals whose policies allow lambda:InvokeFunctionUrl reach the
        # function (no resource policy grants anyone else); the upload application calls it server to server, so
        # no CORS.
        self.url = self.function.add_function_url(auth_type=lambda_.FunctionUrlAuthType.AWS_IAM)
        acknowledge(
            self.function.role,
            {**wildcard_resource_finding(), **object_findings(analytics_bucket, verdict_objects)},
        )
