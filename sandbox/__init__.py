"""What stands in for AWS on a laptop: one local endpoint (moto plus our Rekognition Video and Athena), the stack
runner that provisions the synthesized template on it and runs the functions, and the sample lake and clips.

Nothing in functions/, stacks/ or the CLI's everyday commands imports this package (pyproject.toml's contracts).
"""
