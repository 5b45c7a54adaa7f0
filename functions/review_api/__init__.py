"""review_api: the lookup and verdict API behind an AWS_IAM function URL (video status, review queue, verdicts)."""
