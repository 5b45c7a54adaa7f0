"""Local Rekognition Video content moderation: decode, sample, classify, and the StartContentModeration/GetContentModeration API."""
