"""Local S3 Batch Operations: the s3control job APIs for LambdaInvoke jobs, run against moto's S3.

service.py keeps the jobs and runs them, invocation.py is the Lambda contract (payload, result codes),
manifest.py reads or generates the object list, report.py writes the completion report, and route.py serves it all
on the local endpoint as S3 Control's REST-XML.
"""

from sandbox.batch_operations.invocation import function_name
from sandbox.batch_operations.route import serve_batch_operations
from sandbox.batch_operations.service import BatchOperationsService, BatchSettings, Invoker

__all__ = ["BatchOperationsService", "BatchSettings", "Invoker", "function_name", "serve_batch_operations"]
