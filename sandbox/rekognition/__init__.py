"""Local Rekognition Video content moderation: decoding, sampling, classifying, and its API."""
